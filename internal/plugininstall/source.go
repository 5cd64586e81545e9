package plugininstall

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"aead.dev/minisign"
)

// maxSignatureSize bounds a minisign signature file, in bytes.
const maxSignatureSize = 64 << 10

// stage fetches source, verifies it as o says, and writes the plugin
// binaries it holds (only nebula-plugin-<only>, when only is set) into
// o.Dir under hidden temporary names. On an error nothing is left behind.
func stage(ctx context.Context, source string, o *Options, only string) ([]*staged, error) {
	x := newExtractor(o.Dir, o.Limits, only)
	err := x.source(ctx, source, o)
	if err == nil && len(x.out) == 0 {
		want := Prefix + "NAME"
		if only != "" {
			want = Prefix + only
		}
		err = fmt.Errorf("%w: %s holds no file named %s", ErrNoPlugin, display(source), want)
	}
	if err != nil {
		x.remove()
		return nil, err
	}
	return x.out, nil
}

// source stages what source holds: a directory's nebula-plugin-* files, an
// archive's, or one binary, downloaded first for an https URL.
func (x *extractor) source(ctx context.Context, source string, o *Options) error {
	if strings.Contains(source, "://") {
		u, err := url.Parse(source)
		if err != nil {
			return fmt.Errorf("source %s: not a URL: %w", display(source), errors.Unwrap(err))
		}
		if err := checkURL(u); err != nil {
			return fmt.Errorf("source %s: %w", display(source), err)
		}
		if o.SHA256 == "" && o.PublicKey == "" {
			return fmt.Errorf("%w: %s: give the archive's SHA-256 (-sha256) or a minisign public key (-public-key) to verify it with: a download is never installed unverified",
				ErrInsecureSource, display(source))
		}
		f, err := os.CreateTemp("", "nebula-plugin-download-*")
		if err != nil {
			return err
		}
		defer func() {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}()
		if err := o.download(ctx, u, f, x.lim.MaxArchiveSize); err != nil {
			return err
		}
		return x.file(ctx, f, path.Base(u.Path), source, o)
	}
	st, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("source %s: %w", source, errors.Unwrap(err))
	}
	if st.IsDir() {
		if o.SHA256 != "" || o.PublicKey != "" {
			return fmt.Errorf("source %s is a directory: a checksum or a signature verifies an archive or a binary", source)
		}
		return x.directory(source)
	}
	f, err := os.Open(source)
	if err != nil {
		return fmt.Errorf("source %s: %w", source, errors.Unwrap(err))
	}
	defer f.Close()
	return x.file(ctx, f, filepath.Base(source), source, o)
}

// checkURL refuses a URL that is not https.
func checkURL(u *url.URL) error {
	switch {
	case u.Scheme == "http":
		return fmt.Errorf("%w: plain http is refused, since anyone on the way could change what is downloaded; use https", ErrInsecureSource)
	case u.Scheme != "https":
		return fmt.Errorf("%w: the URL scheme %q is not supported; use https", ErrInsecureSource, u.Scheme)
	case u.User != nil:
		return fmt.Errorf("%w: the URL holds credentials, which the lock file would record; serve the archive without them", ErrInsecureSource)
	case u.Host == "":
		return fmt.Errorf("%w: the URL has no host", ErrInsecureSource)
	}
	return nil
}

// file verifies the file f (named name, from source) and stages what it
// holds: an archive's plugin binaries, or the file itself when it is one.
func (x *extractor) file(ctx context.Context, f *os.File, name, source string, o *Options) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() > x.lim.MaxArchiveSize {
		return fmt.Errorf("%w: %s has %d bytes, more than the limit of %d", ErrTooLarge, display(source), st.Size(), x.lim.MaxArchiveSize)
	}
	if err := o.verify(ctx, f, source); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	switch {
	case strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tgz"):
		err = x.extractTarGz(f)
	case strings.HasSuffix(name, ".zip"):
		err = x.extractZip(f, st.Size())
	default:
		plugin, ok := pluginName(name)
		if !ok {
			return fmt.Errorf("source %s is neither an archive (.tar.gz, .tgz, .zip) nor a plugin binary named %sNAME", display(source), Prefix)
		}
		if x.only != "" && plugin != x.only {
			return nil
		}
		x.byName[plugin] = name
		return x.write(plugin, name, f)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", display(source), err)
	}
	return nil
}

// directory stages the nebula-plugin-* files of dir. Each must be a
// regular file: a symbolic link is refused, as in an archive.
func (x *extractor) directory(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		plugin, ok := pluginName(e.Name())
		if !ok || (x.only != "" && plugin != x.only) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file (%s); install the file itself", p, e.Type())
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		x.byName[plugin] = p
		err = x.write(plugin, p, f)
		_ = f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// verify checks f against the SHA-256 and the minisign signature o gives,
// if any.
func (o *Options) verify(ctx context.Context, f *os.File, source string) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if o.SHA256 != "" {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(o.SHA256) {
			return fmt.Errorf("%w: %s has SHA-256 %s, not %s as given: it is not the file you expect",
				ErrChecksum, display(source), got, strings.ToLower(o.SHA256))
		}
	}
	if o.PublicKey == "" {
		return nil
	}
	key, err := publicKey(o.PublicKey)
	if err != nil {
		return err
	}
	where := o.Signature
	if where == "" {
		where = signatureOf(source)
	}
	text, err := o.readSignature(ctx, where)
	if err != nil {
		return fmt.Errorf("%w: read the signature %s: %w", ErrSignature, display(where), err)
	}
	var sig minisign.Signature
	if err := sig.UnmarshalText(text); err != nil {
		return fmt.Errorf("%w: %s is not a minisign signature: %w", ErrSignature, display(where), err)
	}
	if sig.KeyID != key.ID() {
		return fmt.Errorf("%w: %s was made with the key %X, not with the public key given (%X)", ErrSignature, display(where), sig.KeyID, key.ID())
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var ok bool
	if sig.Algorithm == minisign.HashEdDSA {
		r := minisign.NewReader(f)
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		ok = r.Verify(key, text)
	} else { // the legacy signature of the whole file
		data, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		ok = minisign.Verify(key, data, text)
	}
	if !ok {
		return fmt.Errorf("%w: the signature %s does not match %s: the file was changed, or signed by someone else", ErrSignature, display(where), display(source))
	}
	return nil
}

// signatureOf returns where the signature of source is when no -signature
// says: beside it, its name followed by .minisig.
func signatureOf(source string) string {
	if u, err := url.Parse(source); err == nil && strings.Contains(source, "://") {
		u.Path += ".minisig"
		u.RawPath = ""
		return u.String()
	}
	return source + ".minisig"
}

// publicKey reads a minisign public key: the key itself (the base64 line
// of a .pub file), or the path of a file that holds one.
func publicKey(s string) (minisign.PublicKey, error) {
	var key minisign.PublicKey
	if key.UnmarshalText([]byte(s)) == nil {
		return key, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return key, fmt.Errorf("%w: the public key is neither a minisign key nor a file that can be read: %w", ErrSignature, errors.Unwrap(err))
	}
	if err := key.UnmarshalText(b); err != nil {
		return key, fmt.Errorf("%w: %s holds no minisign public key: %w", ErrSignature, s, err)
	}
	return key, nil
}

// readSignature reads a signature from an https URL or a file.
func (o *Options) readSignature(ctx context.Context, where string) ([]byte, error) {
	var buf limitedBuffer
	buf.max = maxSignatureSize
	if strings.Contains(where, "://") {
		u, err := url.Parse(where)
		if err != nil {
			return nil, errors.Unwrap(err)
		}
		if err := checkURL(u); err != nil {
			return nil, err
		}
		if err := o.download(ctx, u, &buf, maxSignatureSize); err != nil {
			return nil, err
		}
		return buf.b, nil
	}
	f, err := os.Open(where)
	if err != nil {
		return nil, errors.Unwrap(err)
	}
	defer f.Close()
	if _, err := io.Copy(&buf, f); err != nil {
		return nil, err
	}
	return buf.b, nil
}

// limitedBuffer is a buffer that refuses to grow past max bytes.
type limitedBuffer struct {
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b)+len(p) > l.max {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, l.max)
	}
	l.b = append(l.b, p...)
	return len(p), nil
}

// download writes what u serves to w, at most max bytes.
func (o *Options) download(ctx context.Context, u *url.URL, w io.Writer, max int64) error {
	fail := func(err error) error { return fmt.Errorf("download %s: %w", display(u.String()), err) }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fail(err)
	}
	resp, err := o.client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL, query and all
		}
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("the server answered %s", resp.Status))
	}
	if resp.ContentLength > max {
		return fmt.Errorf("%w: %s is %d bytes, more than the limit of %d", ErrTooLarge, display(u.String()), resp.ContentLength, max)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, max+1))
	switch {
	case n > max:
		return fmt.Errorf("%w: %s is more than the limit of %d bytes", ErrTooLarge, display(u.String()), max)
	case err != nil:
		return fail(err)
	}
	return nil
}

// client returns the HTTP client of downloads: o.HTTPClient, or one that
// speaks TLS 1.2 or later, with the environment's proxy; either way, one
// that follows no redirect to a URL that is not https.
func (o *Options) client() *http.Client {
	var c http.Client
	if o.HTTPClient != nil {
		c = *o.HTTPClient
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		t.ResponseHeaderTimeout = time.Minute
		c.Transport = t
		c.Timeout = 30 * time.Minute // 512 MiB at 300 kB/s
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("%w: redirected to %s, which is not https", ErrInsecureSource, display(req.URL.String()))
		}
		if len(via) >= 10 {
			return errors.New("more than 10 redirects")
		}
		return nil
	}
	return &c
}

// display returns source as messages and the lock file show it: a URL
// without its query and fragment, which may hold a token.
func display(source string) string {
	if !strings.Contains(source, "://") {
		return source
	}
	u, err := url.Parse(source)
	if err != nil {
		return "(a URL that cannot be parsed)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}
