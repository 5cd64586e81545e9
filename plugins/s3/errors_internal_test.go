package s3

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// failingReader yields n bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

// A body that fails mid-way is a retryable unavailable that says where
// to resume, whatever its error; the caller's stream failing, or the
// call's context ending, is not.
func TestGetErrorOfABrokenBodyIsRetryableUnavailable(t *testing.T) {
	r := &Resource{name: "r", secrets: []string{"the-secret"}}
	a := sdk.BlobGetArgs{Key: "k", Offset: 100, Length: 1000}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	for name, readErr := range map[string]error{
		"reset":          reset,
		"unexpected EOF": io.ErrUnexpectedEOF,
		"unknown":        errors.New("something the-secret said"),
	} {
		body := &bodyReader{r: &failingReader{n: 10, err: readErr}}
		_, err := io.Copy(io.Discard, body)
		got := r.getError(context.Background(), err, body, a, `"e"`)
		if sdk.KindOf(got) != sdk.KindUnavailable || !sdk.IsRetryable(got) {
			t.Errorf("%s: %v (kind %s), want a retryable unavailable", name, got, sdk.KindOf(got))
		}
		if msg := got.Error(); !strings.Contains(msg, `{"key":"k","offset":110,"length":990,"if_match":"\"e\""}`) || strings.Contains(msg, "the-secret") {
			t.Errorf("%s: %q does not say where to resume, or holds the secret", name, msg)
		}
	}

	body := &bodyReader{r: &failingReader{n: 10, err: io.EOF}}
	_, err := io.Copy(failingWriter{sdk.Errorf(sdk.KindCanceled, "the caller went away")}, body)
	if got := r.getError(context.Background(), err, body, a, ""); sdk.KindOf(got) != sdk.KindCanceled {
		t.Errorf("the caller's stream failing: %v (kind %s), want its own kind", got, sdk.KindOf(got))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	body = &bodyReader{r: &failingReader{n: 10, err: reset}}
	_, err = io.Copy(io.Discard, body)
	if got := r.getError(ctx, err, body, a, ""); sdk.KindOf(got) != sdk.KindCanceled {
		t.Errorf("a canceled get: %v (kind %s), want canceled", got, sdk.KindOf(got))
	}
}
