// Package supervisor runs one driver plugin process and keeps it running.
//
// go-plugin starts a plugin and talks to it; it does not restart it. A
// Supervisor does: before every start it checks the binary (CheckBinary:
// a regular executable file no other user may replace) and its SHA-256,
// starts it with go-plugin over gRPC with mutual TLS (sdk.PluginTLS) and
// without the host's environment, in a process group of its own, and bounds the whole start
// by StartTimeout. It watches the plugin, and when it exits kills what is
// left of its group and restarts it after a backoff with jitter that
// resets once the plugin has run ResetAfter, telling its owner so the
// owner can configure the plugin's resources again. Plugins never outlive
// the host: they are started with a parent-death signal, and the SDK also
// watches its parent.
package supervisor

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/nebula-resource/nebula-resource/host/pluginconn"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Config configures a Supervisor. The zero value of each optional field
// means the default it documents.
type Config struct {
	// Name names the plugin in logs and errors.
	Name string
	// Path is the plugin binary.
	Path string
	// SHA256, when set, is the binary's expected SHA-256 in hex. It is
	// checked before every start, restarts included.
	SHA256 string
	// Args are passed to the plugin binary.
	Args []string
	// Env is the plugin's whole environment, beside what go-plugin sets
	// and what Tracing adds. The host's environment is never inherited.
	Env map[string]string
	// Tracing, when its Endpoint is set, asks the plugin to export its
	// spans where the host exports its own. The zero value asks nothing:
	// the plugin still receives each call's trace context, but records no
	// spans unless it set up tracing itself.
	Tracing Tracing
	// MaxMessageSize bounds the payload of a message between the host and
	// the plugin, both ways, in bytes (the host block's max_message_size).
	// The plugin learns it from sdk.MaxMessageSizeEnv. Zero means
	// sdk.DefaultMaxMessageSize.
	MaxMessageSize int
	// Logger receives go-plugin's messages and the plugin's stderr, with a
	// "plugin" attribute. Nil means slog.Default().
	Logger *slog.Logger
	// StartTimeout bounds one start: from running the binary to its
	// answer to the host's first call, the go-plugin handshake between.
	// A start that takes longer fails with ErrStartTimeout and the
	// plugin's whole process group is killed. Default 30s.
	StartTimeout time.Duration
	// MinBackoff is the delay before the first restart after a failure,
	// ±50 % jitter. Default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the delay between restarts while the plugin keeps
	// failing. Default 10s.
	MaxBackoff time.Duration
	// ResetAfter is how long a plugin must run before its exit counts as
	// a first failure again, restarted after about MinBackoff; an exit
	// sooner doubles the delay. Default 5s.
	ResetAfter time.Duration
	// AllowWorldWritable starts the plugin although its binary, or a
	// directory above it, is writable by every user (see CheckBinary).
	AllowWorldWritable bool

	// OnExit, when set, is called after the plugin exits unexpectedly,
	// before the restart. OnRestart, when set, is called after each
	// successful restart with the new driver and its generation. Both run
	// on the supervisor's goroutine: they must not call Close.
	OnExit    func(generation uint64, err error)
	OnRestart func(driver sdk.Driver, generation uint64)
}

// Tracing is the OTLP/gRPC collector a plugin exports its spans to: the
// host's own (config telemetry { tracing { ... } }). The supervisor passes
// it in the plugin's environment as the standard OpenTelemetry variables,
// which sdk.Serve and its OTLP exporter read:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT  http://<Endpoint> when Insecure, else https://<Endpoint>
//	OTEL_EXPORTER_OTLP_INSECURE  true or false
//	OTEL_EXPORTER_OTLP_HEADERS   name=value,... (values percent-encoded)
//	OTEL_EXPORTER_OTLP_PROTOCOL  grpc
//	OTEL_TRACES_SAMPLER          parentbased_always_off
//
// The sampler records only the spans whose parent the host sampled: the
// host decides. A variable also set in Config.Env keeps the value Env
// gives it.
type Tracing struct {
	// Endpoint is host:port. Empty means the plugin does not export.
	Endpoint string
	// Insecure sends without TLS.
	Insecure bool
	// Headers are sent with every export, for example an API key. They
	// may be sensitive: they are never logged.
	Headers map[string]string
}

// env returns the environment variables that pass t to a plugin, or nil
// when t has no endpoint.
func (t Tracing) env() map[string]string {
	if t.Endpoint == "" {
		return nil
	}
	scheme := "https://"
	if t.Insecure {
		scheme = "http://"
	}
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": scheme + t.Endpoint,
		"OTEL_EXPORTER_OTLP_INSECURE": strconv.FormatBool(t.Insecure),
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_TRACES_SAMPLER":         "parentbased_always_off",
	}
	if len(t.Headers) > 0 {
		pairs := make([]string, 0, len(t.Headers))
		for k, v := range t.Headers {
			// The exporter splits on commas and path-unescapes each value;
			// PathEscape leaves commas alone.
			pairs = append(pairs, k+"="+strings.ReplaceAll(url.PathEscape(v), ",", "%2C"))
		}
		sort.Strings(pairs)
		env["OTEL_EXPORTER_OTLP_HEADERS"] = strings.Join(pairs, ",")
	}
	return env
}

// State is where a plugin is in its life.
type State string

// The states of a plugin.
const (
	StateStarting   State = "starting"
	StateRunning    State = "running"
	StateRestarting State = "restarting"
	// StateCrashLoop is StateRestarting for a plugin that failed
	// crashLoopAfter (3) times in a row, exiting before it had run
	// ResetAfter or failing to start: the host keeps restarting it with
	// growing delays, up to MaxBackoff.
	StateCrashLoop State = "crash_loop"
	StateStopped   State = "stopped"
)

// Info describes a supervised plugin.
type Info struct {
	Name     string   `json:"name"`
	Path     string   `json:"path"`
	SHA256   string   `json:"sha256"` // of the binary last started
	Version  string   `json:"version"`
	Driver   string   `json:"driver"` // the driver's own name
	Protocol int      `json:"protocol"`
	Types    []string `json:"types"`
	PID      int      `json:"pid"`
	State    State    `json:"state"`
	Restarts int      `json:"restarts"`
	// Generation counts starts; it changes on every restart.
	Generation uint64 `json:"generation"`
	// LastError is why the plugin last exited or failed to start.
	LastError string `json:"last_error,omitempty"`
	// Failures counts the failures in a row: exits before ResetAfter and
	// failed starts. Zero once the plugin has run ResetAfter.
	Failures int `json:"failures,omitempty"`
	// NextRestart is when the next start is due, while the plugin is
	// restarting.
	NextRestart time.Time `json:"next_restart,omitzero"`
}

// Supervisor runs one plugin process. Its methods are safe for concurrent
// use.
type Supervisor struct {
	cfg Config
	log *slog.Logger

	closing  chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu         sync.Mutex // guards the fields below; never held while starting or stopping the plugin
	client     *plugin.Client
	runner     *groupRunner // of the running plugin, or the one starting
	driver     sdk.Driver
	info       Info
	generation uint64
	started    bool
}

// New returns a Supervisor for the plugin. Nothing starts until Start.
func New(cfg Config) *Supervisor {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.ResetAfter <= 0 {
		cfg.ResetAfter = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	shown := cfg.Path
	// The binary runs by its absolute path: a relative one is the working
	// directory's, and a bare name (a plugin found in -plugin-dir .) would
	// otherwise be looked up in $PATH.
	if abs, err := filepath.Abs(cfg.Path); err == nil {
		cfg.Path = abs
	}
	return &Supervisor{
		cfg:     cfg,
		log:     log.With("plugin", cfg.Name),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		info:    Info{Name: cfg.Name, Path: shown, State: StateStopped},
	}
}

// Start starts the plugin and returns once it has described itself, or
// with the reason it could not start: a *StartError wrapping
// ErrNotPluginBinary, ErrInsecurePermissions, ErrChecksumMismatch,
// ErrStartTimeout, ErrHandshake, ErrIncompatibleProtocol or the cause. It
// returns within StartTimeout, and when it fails no process of the
// plugin's process group is left. After a successful Start the plugin is
// restarted whenever it exits, until Close. Start may be called once.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return fmt.Errorf("plugin %q: Start called twice", s.cfg.Name)
	}
	s.started = true
	s.info.State = StateStarting
	s.mu.Unlock()

	result := make(chan error, 1)
	go s.run(result)
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		s.stop()
		<-s.done
		return &StartError{Plugin: s.cfg.Name, Path: s.cfg.Path, Err: ctx.Err()}
	}
}

// Driver returns the running plugin's driver and its generation, or an
// error wrapping ErrPluginDown while it is not running.
func (s *Supervisor) Driver() (sdk.Driver, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.driver == nil {
		return nil, s.generation, fmt.Errorf("plugin %q is %s: %w", s.cfg.Name, s.info.State, ErrPluginDown)
	}
	return s.driver, s.generation, nil
}

// Info describes the plugin.
func (s *Supervisor) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := s.info
	info.Types = append([]string(nil), s.info.Types...)
	return info
}

// Close stops the plugin and waits for the supervisor's goroutine. It is
// safe to call more than once. The plugin gets a graceful stop; when ctx
// ends first its process group is killed with SIGKILL. Close always
// returns with every process of the plugin's group gone and the goroutine
// joined.
func (s *Supervisor) Close(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	s.stop()
	if !started {
		return nil
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	r := s.runner
	s.mu.Unlock()
	if r != nil {
		r.kill("killed by the host: it did not stop in time")
	}
	<-s.done
	return fmt.Errorf("plugin %q: killed: it did not stop gracefully in time: %w", s.cfg.Name, ctx.Err())
}

func (s *Supervisor) stop() { s.stopOnce.Do(func() { close(s.closing) }) }

// run owns the plugin process: it starts it, watches it and restarts it.
// It runs on one locked OS thread for its whole life, because plugins are
// started with a parent-death signal that fires when the starting thread
// ends.
func (s *Supervisor) run(first chan<- error) {
	defer close(s.done)
	lockSpawnThread()

	client, r, err := s.spawn()
	first <- err
	if err != nil {
		s.setStopped(err)
		return
	}
	policy := newRestartPolicy(s.cfg.MinBackoff, s.cfg.MaxBackoff, s.cfg.ResetAfter)
	for {
		startedAt := time.Now()
		select {
		case <-s.closing:
			s.kill(client, r)
			s.setStopped(nil)
			return
		case <-r.leaderGone:
		}
		up := time.Since(startedAt)
		delay := policy.failed(up)
		// The delay runs from the exit: the time OnExit and the cleanup
		// below take is part of it.
		due := time.Now().Add(delay)
		gen := s.setExited(errors.New("plugin process exited unexpectedly"), policy, delay)
		if s.cfg.OnExit != nil {
			s.cfg.OnExit(gen, ErrPluginDown)
		}
		client.Kill() // reap it and release go-plugin's goroutines
		exitErr := fmt.Errorf("plugin process exited unexpectedly (%s) after running %v", exitStatus(r), up.Round(time.Millisecond))
		s.setLastError(exitErr)
		s.log.Error("plugin exited; restarting", "generation", gen, "error", exitErr.Error(), "restart_in", delay.Round(time.Millisecond).String(), "failures", policy.failures)
		for {
			t := time.NewTimer(time.Until(due))
			select {
			case <-s.closing:
				t.Stop()
				s.setStopped(nil)
				return
			case <-t.C:
			}
			client, r, err = s.spawn()
			if err == nil {
				break
			}
			delay = policy.failed(0)
			due = time.Now().Add(delay)
			s.setRestartFailed(err, policy, delay)
			s.log.Error("plugin restart failed", "error", err, "retry_in", delay.Round(time.Millisecond).String(), "failures", policy.failures)
		}
		driver, gen, _ := s.Driver()
		s.log.Info("plugin restarted", "generation", gen)
		if s.cfg.OnRestart != nil {
			s.cfg.OnRestart(driver, gen)
		}
	}
}

func (s *Supervisor) kill(c *plugin.Client, r *groupRunner) {
	c.Kill()
	if r.killReason() == killGraceful {
		s.log.Warn("plugin did not exit within 2s of the request to stop; its process group was killed")
	}
	s.mu.Lock()
	s.driver, s.client, s.runner = nil, nil, nil
	s.mu.Unlock()
}

func (s *Supervisor) setStopped(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.driver, s.client, s.runner = nil, nil, nil
	s.info.State = StateStopped
	s.info.PID = 0
	s.info.NextRestart = time.Time{}
	if err != nil {
		s.info.LastError = err.Error()
	}
}

func (s *Supervisor) setExited(err error, p *restartPolicy, delay time.Duration) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.driver, s.client = nil, nil
	s.setRestartingLocked(err, p, delay)
	s.info.PID = 0
	return s.generation
}

func (s *Supervisor) setRestartFailed(err error, p *restartPolicy, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setRestartingLocked(err, p, delay)
}

func (s *Supervisor) setRestartingLocked(err error, p *restartPolicy, delay time.Duration) {
	s.info.State = StateRestarting
	if p.crashLooping() {
		s.info.State = StateCrashLoop
	}
	s.info.LastError = err.Error()
	s.info.Failures = p.failures
	s.info.NextRestart = time.Now().Add(delay)
}

func (s *Supervisor) setLastError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.info.LastError = err.Error()
}

// Reasons the host kills a plugin that is starting.
const (
	killTimeout  = "start timeout"
	killClosing  = "the supervisor is closing"
	killGraceful = "a graceful stop timed out"
	killFailed   = "the start failed"
)

// spawn starts the plugin once and records it as running. It returns
// within StartTimeout; when it fails, the plugin's process group is gone.
func (s *Supervisor) spawn() (*plugin.Client, *groupRunner, error) {
	fail := func(err error) error { return &StartError{Plugin: s.cfg.Name, Path: s.cfg.Path, Err: err} }
	if err := CheckBinary(s.cfg.Path, s.cfg.AllowWorldWritable); err != nil {
		return nil, nil, fail(err)
	}
	sum, err := FileSHA256(s.cfg.Path)
	if err != nil {
		return nil, nil, fail(fmt.Errorf("%w: %v", ErrNotPluginBinary, err))
	}
	want := strings.ToLower(s.cfg.SHA256)
	if want != "" && sum != want {
		return nil, nil, fail(fmt.Errorf("%w: the configuration gives sha256 %s, the file has %s", ErrChecksumMismatch, want, sum))
	}

	var (
		current   atomic.Pointer[groupRunner]
		socketDir string
	)
	msgSize := cmp.Or(s.cfg.MaxMessageSize, sdk.DefaultMaxMessageSize)
	ptls, err := sdk.NewPluginTLS()
	if err != nil {
		return nil, nil, fail(fmt.Errorf("make the plugin's TLS keys: %w", err))
	}
	data, err := sdk.NewDataConn(msgSize)
	if err != nil {
		return nil, nil, fail(fmt.Errorf("make the plugin's data connection: %w", err))
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginconn.Handshake,
		VersionedPlugins: pluginconn.PluginSets(data),
		RunnerFunc: func(l hclog.Logger, spec *exec.Cmd, dir string) (runner.Runner, error) {
			socketDir = dir
			cmd := exec.Command(s.cfg.Path, s.cfg.Args...)
			// go-plugin's variables (handshake cookie, client certificate,
			// socket directory) come last and win.
			cmd.Env = append(envList(s.cfg.Tracing.env(), s.cfg.Env,
				map[string]string{sdk.MaxMessageSizeEnv: strconv.Itoa(msgSize)}), spec.Env...)
			// groupRunner.Start closes the host's end of the pipe.
			if _, err := ptls.Prepare(cmd); err != nil {
				return nil, err
			}
			data.Prepare(cmd)
			r, err := newGroupRunner(l, cmd, want)
			if err != nil {
				return nil, err
			}
			r.data = data
			current.Store(r)
			s.mu.Lock()
			s.runner = r
			s.mu.Unlock()
			return r, nil
		},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		// Mutual TLS with the keys the host makes (sdk.PluginTLS), in
		// place of go-plugin's AutoMTLS, which a plugin may still answer
		// with.
		TLSConfig:   ptls.Config(),
		SkipHostEnv: true,
		// The watchdog below bounds the whole start; go-plugin's own
		// timer, on the handshake only, is a backstop.
		StartTimeout: s.cfg.StartTimeout + time.Second,
		// The call's trace context travels to the plugin in the metadata.
		GRPCDialOptions: append(sdk.GRPCDialOptions(), sdk.MessageSizeDialOptions(msgSize)...),
		Logger:          newSlogAdapter(s.log),
		Stderr:          io.Discard, // lines still reach Logger, parsed
		SyncStdout:      &lineWriter{log: s.log, stream: "stdout"},
		SyncStderr:      &lineWriter{log: s.log, stream: "stderr"},
	})

	// The watchdog kills the plugin's process group when the start takes
	// longer than StartTimeout or the supervisor closes. Every step of
	// the start then fails at once: go-plugin cancels its context when
	// the process is gone.
	started := make(chan struct{})
	var watchdog sync.WaitGroup
	watchdog.Go(func() {
		t := time.NewTimer(s.cfg.StartTimeout)
		defer t.Stop()
		why := ""
		select {
		case <-started:
			return
		case <-t.C:
			why = killTimeout
		case <-s.closing:
			why = killClosing
		}
		if r := current.Load(); r != nil {
			r.kill(why)
		}
	})
	stage := "handshake"
	driver, err := func() (sdk.Driver, error) {
		defer func() { close(started); watchdog.Wait() }()
		rpc, err := client.Client()
		if err != nil {
			return nil, err
		}
		stage = "describe"
		raw, err := rpc.Dispense(sdk.PluginName)
		if err != nil {
			return nil, err
		}
		driver, ok := raw.(sdk.Driver)
		if !ok {
			return nil, fmt.Errorf("plugin dispensed %T, not a driver", raw)
		}
		return driver, nil
	}()
	r := current.Load()
	if err == nil && r.killReason() != "" {
		err = errors.New("killed while starting")
	}
	if err != nil {
		// Whether it exited by itself is known only before the host
		// kills it below.
		// go-plugin may see the end of stdout a moment before the
		// watcher sees the process exit: give it that moment (a loaded
		// machine may take longer than half a second to tell).
		exitedFirst := false
		if r != nil && r.pid != 0 && !killedByHost(r.killReason()) {
			wait := time.Duration(0)
			if stdoutEnded(err) {
				wait = 2 * time.Second
			}
			t := time.NewTimer(wait)
			select {
			case <-r.leaderGone:
				exitedFirst = !killedByHost(r.killReason())
			case <-t.C:
			}
			t.Stop()
		}
		if r != nil {
			// Kill it before go-plugin's Kill, which would otherwise wait
			// 2 s for a graceful exit that is not coming.
			r.kill(killFailed)
		}
		client.Kill()
		_ = data.Close()
		if (r == nil || r.pid == 0) && socketDir != "" {
			// go-plugin removes it only for a process that ran.
			_ = os.RemoveAll(socketDir)
		}
		s.mu.Lock()
		s.runner = nil
		s.mu.Unlock()
		return nil, nil, fail(s.startError(err, r, stage, exitedFirst))
	}

	info := driver.Info()
	types := make([]string, 0, len(info.Types))
	for _, t := range info.Types {
		types = append(types, t.Name)
	}
	sort.Strings(types)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.generation > 0 {
		s.info.Restarts++
	}
	s.generation++
	s.client, s.driver = client, driver
	s.info.State = StateRunning
	s.info.NextRestart = time.Time{}
	s.info.SHA256 = sum
	s.info.Version = info.Version
	s.info.Driver = info.Name
	s.info.Protocol = client.NegotiatedVersion()
	s.info.Types = types
	s.info.PID = r.pid
	s.info.Generation = s.generation
	s.log.Info("plugin started", "pid", r.pid, "version", info.Version, "generation", s.generation)
	return client, r, nil
}

// startError says what went wrong in a start that failed at stage
// ("handshake" or "describe"), from go-plugin's error and what the runner
// saw of the process. go-plugin reports a bad handshake line only as
// text; this is where the host reads it.
func (s *Supervisor) startError(err error, r *groupRunner, stage string, exitedFirst bool) error {
	switch {
	case errors.Is(err, ErrChecksumMismatch):
		return err
	case r == nil || r.pid == 0:
		// It never ran.
		if errors.Is(err, syscall.ENOEXEC) {
			return fmt.Errorf("%w: the system cannot run it (exec format error): it is not a program for this machine, or a script without a #! line", ErrNotPluginBinary)
		}
		return fmt.Errorf("%w: running it failed: %v", ErrNotPluginBinary, err)
	}
	stderr := r.stderrTail()
	if stderr != "" {
		stderr = "; its last words on stderr: " + stderr
	}
	switch r.killReason() {
	case killTimeout:
		if stage == "handshake" {
			return fmt.Errorf("%w: it did not print the go-plugin handshake line on stdout within %v (start_timeout); its process group was killed%s",
				ErrStartTimeout, s.cfg.StartTimeout, stderr)
		}
		return fmt.Errorf("%w: it printed its handshake but did not answer the host within %v (start_timeout); its process group was killed%s",
			ErrStartTimeout, s.cfg.StartTimeout, stderr)
	case killClosing:
		return fmt.Errorf("start canceled: the host is stopping")
	}
	if v, ok := pluginVersion(err); ok {
		return fmt.Errorf("%w: the plugin speaks protocol version %d; this host speaks versions %d to %d. Use a plugin built for one of those, or a host that speaks %d",
			ErrIncompatibleProtocol, v, sdk.MinProtocolVersion, sdk.ProtocolVersion, v)
	}
	if m := coreMismatch.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%w: the plugin speaks go-plugin core protocol %s; this host speaks %d. Rebuild the plugin against this version of the sdk",
			ErrIncompatibleProtocol, m[1], plugin.CoreProtocolVersion)
	}
	_, status := r.status()
	if line, ok := strings.CutPrefix(err.Error(), "Unrecognized remote plugin message: "); ok {
		line, _, _ = strings.Cut(line, "\n")
		if line = strings.TrimSpace(line); line != "" {
			return fmt.Errorf("%w: it printed %q on stdout where the go-plugin handshake line was expected: it is not a nebula-resource plugin (built with sdk.Serve), or it writes to stdout before serving%s",
				ErrHandshake, truncate(line, 120), stderr)
		}
	}
	if exitedFirst && stage == "handshake" {
		return fmt.Errorf("%w: it exited (%s) before printing the go-plugin handshake line: it is not a nebula-resource plugin (built with sdk.Serve), or it failed at start%s",
			ErrHandshake, status, stderr)
	}
	if stage == "handshake" && stdoutEnded(err) {
		return fmt.Errorf("%w: it closed its stdout before printing the go-plugin handshake line (%s): it is not a nebula-resource plugin (built with sdk.Serve), or it failed at start%s",
			ErrHandshake, status, stderr)
	}
	if exitedFirst {
		return fmt.Errorf("%w: it printed its handshake, then exited (%s) before answering the host%s", ErrHandshake, status, stderr)
	}
	if stage == "describe" {
		return fmt.Errorf("%w: it printed its handshake, but the host could not talk to it at the address it gave: %v%s", ErrHandshake, err, stderr)
	}
	return fmt.Errorf("%w: %v%s", ErrHandshake, err, stderr)
}

// killedByHost reports whether a kill reason means the host ended the
// plugin. go-plugin's own Kill (killGraceful), which it calls when the
// handshake fails, races with the plugin's exit and does not make an exit
// the host's doing.
func killedByHost(reason string) bool { return reason != "" && reason != killGraceful }

// stdoutEnded reports whether go-plugin's error says the plugin's stdout
// ended before a handshake line: the plugin has most likely exited.
func stdoutEnded(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Failed to read any lines from plugin's stdout") ||
		strings.Contains(msg, "plugin exited before we could connect")
}

// exitStatus describes how the runner's process ended.
func exitStatus(r *groupRunner) string {
	_, status := r.status()
	return status
}

var coreMismatch = regexp.MustCompile(`incompatible core API version with plugin\. Plugin version: (\d+)`)

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// go-plugin reports a version mismatch only as text; this is the one place
// the host reads an error's text, because no typed error exists.
var versionMismatch = regexp.MustCompile(`(?i)incompatible API version with plugin\. Plugin version: (\d+)`)

func pluginVersion(err error) (int, bool) {
	m := versionMismatch.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	var v int
	_, _ = fmt.Sscan(m[1], &v)
	return v, true
}

// envList returns the variables of the maps as KEY=value lines; a later
// map's value wins.
func envList(envs ...map[string]string) []string {
	merged := map[string]string{}
	for _, env := range envs {
		maps.Copy(merged, env)
	}
	out := make([]string, 0, len(merged))
	for k, v := range merged {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// FileSHA256 returns the SHA-256 of the file at path, in lowercase hex, as
// sha256sum prints it.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
