// Package launch runs a plugin binary as the host does, without go-plugin:
// the host's side of go-plugin's handshake (sdk/internal/goplugin), for
// the conformance kit's sdktest.Start. It sets the handshake's variables,
// reads the handshake line, dials the plugin's socket with gRPC and mutual
// TLS, forwards what the plugin logs and prints, and stops it as
// go-plugin's client does: GRPCController.Shutdown, then a kill after a
// grace period.
package launch

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nebula-resource/nebula-resource/sdk/internal/goplugin"
)

// ErrExited is the error of a plugin that exited, or closed its stdout,
// before it printed its handshake line.
var ErrExited = errors.New("the plugin exited before its handshake")

// ErrTimeout is the error of a plugin that printed no handshake line
// within Config.StartTimeout.
var ErrTimeout = errors.New("the plugin printed no handshake line in time")

// Config says how to run a plugin.
type Config struct {
	// Cmd is the plugin's command. Start adds the handshake's variables to
	// its Env (an empty Env is kept empty but for them: nothing is
	// inherited) and sets its Stdout and Stderr, which must be nil. Its
	// ExtraFiles are the caller's to close once Start has returned.
	Cmd *exec.Cmd
	// CookieKey and CookieValue are the magic cookie.
	CookieKey, CookieValue string
	// Versions are the application protocol versions offered; the
	// plugin must answer with one of them.
	Versions []int
	// TLS is the host's side of mutual TLS; nil dials without TLS. When
	// the plugin answers with a certificate of its own (go-plugin's
	// AutoMTLS), it becomes the only root.
	TLS *tls.Config
	// DialOptions are added to the gRPC connection's.
	DialOptions []grpc.DialOption
	// StartTimeout bounds the wait for the handshake line (zero: 30s).
	StartTimeout time.Duration
	// Grace is how long Kill waits for the plugin to exit after asking it
	// to (zero: 2s, as go-plugin).
	Grace time.Duration
	// Log, when set, receives each line the plugin writes to its stderr
	// (its log, as JSON), and each line it prints on stdout or stderr
	// after the handshake, prefixed with "stdout: " or "stderr: ". It is
	// called from several goroutines, never after Kill has returned.
	Log func(line string)
}

// Plugin is a running plugin. Kill it once done.
type Plugin struct {
	// Conn is the gRPC connection to the plugin.
	Conn *grpc.ClientConn
	// Version is the application protocol version it speaks.
	Version int

	cmd       *exec.Cmd
	grace     time.Duration
	socketDir string
	exited    chan struct{} // closed when cmd.Wait has returned
	// pipes are the reading ends of the plugin's stdout and stderr.
	pipes     []*os.File
	readers   sync.WaitGroup // the stdout and stderr readers
	stdio     sync.WaitGroup // the GRPCStdio stream
	stopStdio context.CancelFunc
	waiter    sync.WaitGroup // cmd.Wait
	killOnce  sync.Once
	waitErr   error // set before exited is closed
}

// Start runs the plugin and waits for its handshake. On an error the
// plugin is no longer running.
func Start(cfg Config) (*Plugin, error) {
	cmd := cfg.Cmd
	if cmd.Stdout != nil || cmd.Stderr != nil {
		return nil, errors.New("launch: Cmd.Stdout and Cmd.Stderr must be nil")
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	logLine := cfg.Log
	if logLine == nil {
		logLine = func(string) {}
	}
	dir, err := os.MkdirTemp("", "plugin-dir")
	if err != nil {
		return nil, err
	}
	versions := make([]string, len(cfg.Versions))
	for i, v := range cfg.Versions {
		versions[i] = strconv.Itoa(v)
	}
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Env = append(cmd.Env,
		cfg.CookieKey+"="+cfg.CookieValue,
		goplugin.EnvProtocolVersions+"="+strings.Join(versions, ","),
		goplugin.EnvUnixSocketDir+"="+dir,
	)
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = os.RemoveAll(dir)
		_ = outR.Close()
		_ = outW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	_ = outW.Close()
	_ = errW.Close()
	if err != nil {
		_ = os.RemoveAll(dir)
		_ = outR.Close()
		_ = errR.Close()
		return nil, err
	}
	p := &Plugin{
		cmd:       cmd,
		grace:     orDefault(cfg.Grace, 2*time.Second),
		socketDir: dir,
		exited:    make(chan struct{}),
		pipes:     []*os.File{outR, errR},
		stopStdio: func() {},
	}
	p.waiter.Add(1)
	go func() {
		defer p.waiter.Done()
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	lines := make(chan string, 1)
	p.readers.Add(2)
	go func() {
		defer p.readers.Done()
		defer close(lines)
		sc := bufio.NewScanner(outR)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
				continue
			}
			logLine("stdout: " + sc.Text())
		}
	}()
	go func() {
		defer p.readers.Done()
		r := bufio.NewReader(errR)
		for {
			line, err := r.ReadString('\n')
			if line = strings.TrimRight(line, "\r\n"); line != "" {
				logLine(line)
			}
			if err != nil {
				return
			}
		}
	}()

	fail := func(err error) (*Plugin, error) {
		p.kill(false)
		return nil, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			// Its stdout ended: say how it exited, if it does soon.
			wait := time.NewTimer(time.Second)
			select {
			case <-p.exited:
			case <-wait.C:
			}
			wait.Stop()
			return fail(fmt.Errorf("%w (%v)", ErrExited, p.exitError()))
		}
		line = l
	case <-p.exited:
		return fail(fmt.Errorf("%w (%v)", ErrExited, p.exitError()))
	case <-t.C:
		return fail(fmt.Errorf("%w: %v", ErrTimeout, timeout))
	}
	hs, err := goplugin.ParseHandshake(line)
	if err != nil {
		return fail(err)
	}
	if !slices.Contains(cfg.Versions, hs.Version) {
		return fail(fmt.Errorf("the plugin speaks protocol version %d, not one of %v", hs.Version, cfg.Versions))
	}
	p.Version = hs.Version

	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		tc := cfg.TLS.Clone()
		if hs.ServerCert != nil {
			pool := x509.NewCertPool()
			pool.AddCert(hs.ServerCert)
			tc.RootCAs, tc.ClientCAs = pool, pool
		}
		creds = credentials.NewTLS(tc)
	}
	opts := append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, hs.Network, hs.Address)
		}),
		grpc.WithTransportCredentials(creds),
		// As go-plugin dials.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)),
	}, cfg.DialOptions...)
	conn, err := grpc.NewClient("passthrough:///plugin", opts...)
	if err != nil {
		return fail(err)
	}
	p.Conn = conn
	ctx, cancel := context.WithCancel(context.Background())
	p.stopStdio = cancel
	p.stdio.Add(1)
	go func() {
		defer p.stdio.Done()
		out, errs := &lineBuffer{log: logLine, prefix: "stdout: "}, &lineBuffer{log: logLine, prefix: "stderr: "}
		_ = goplugin.StreamStdio(ctx, conn, func(stdout bool, b []byte) {
			if stdout {
				out.write(b)
			} else {
				errs.write(b)
			}
		})
		out.flush()
		errs.flush()
	}()
	return p, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// exitError says how the plugin exited, or that it is still running.
func (p *Plugin) exitError() string {
	select {
	case <-p.exited:
		if p.waitErr == nil {
			return "exit status 0"
		}
		return p.waitErr.Error()
	default:
		return "still running"
	}
}

// Exited is closed when the plugin's process has exited.
func (p *Plugin) Exited() <-chan struct{} { return p.exited }

// Kill stops the plugin as go-plugin's client does: it asks it to shut
// down, gives it Config.Grace to exit, and then kills it. It returns once
// the process has exited and every goroutine of p has ended. It is safe
// to call twice.
func (p *Plugin) Kill() { p.kill(true) }

func (p *Plugin) kill(graceful bool) {
	p.killOnce.Do(func() {
		if graceful && p.Conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), p.grace)
			// An error means it is gone or going: the wait below decides.
			_ = goplugin.Shutdown(ctx, p.Conn)
			cancel()
		}
		if p.Conn != nil {
			_ = p.Conn.Close()
		}
		p.stopStdio()
		p.stdio.Wait()
		if graceful {
			t := time.NewTimer(p.grace)
			select {
			case <-p.exited:
			case <-t.C:
			}
			t.Stop()
		}
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
		}
		p.waiter.Wait()
		// A child of the plugin may still hold its stdout or stderr:
		// give the readers a moment to see the end, then end them.
		done := make(chan struct{})
		go func() { p.readers.Wait(); close(done) }()
		t := time.NewTimer(time.Second)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
		for _, f := range p.pipes {
			_ = f.Close()
		}
		<-done
		_ = os.RemoveAll(p.socketDir)
	})
}

// lineBuffer hands whole lines of what it is written to log.
type lineBuffer struct {
	log    func(string)
	prefix string
	buf    []byte
}

func (b *lineBuffer) write(p []byte) {
	b.buf = append(b.buf, p...)
	for {
		i := strings.IndexByte(string(b.buf), '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimRight(string(b.buf[:i]), "\r"); line != "" {
			b.log(b.prefix + line)
		}
		b.buf = b.buf[i+1:]
	}
}

func (b *lineBuffer) flush() {
	if len(b.buf) > 0 {
		b.log(b.prefix + string(b.buf))
		b.buf = nil
	}
}
