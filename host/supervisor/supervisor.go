// Package supervisor runs one driver plugin process and keeps it running.
//
// go-plugin starts a plugin and talks to it; it does not restart it. A
// Supervisor does: it verifies the binary's SHA-256 before every start,
// starts it with go-plugin over gRPC with AutoMTLS and without the host's
// environment, watches it, and when it exits restarts it with exponential
// backoff, telling its owner so the owner can configure the plugin's
// resources again. Plugins never outlive the host: they are started with a
// parent-death signal, and the SDK also watches its parent.
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
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

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
	// StartTimeout bounds one start, handshake included. Default 30s.
	StartTimeout time.Duration
	// MinBackoff is the first delay before a restart. Default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the delay between restarts. Default 10s.
	MaxBackoff time.Duration
	// PollInterval is how often the supervisor checks whether the plugin
	// has exited. Default 100ms.
	PollInterval time.Duration

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
	StateStopped    State = "stopped"
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
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Supervisor{
		cfg:     cfg,
		log:     log.With("plugin", cfg.Name),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		info:    Info{Name: cfg.Name, Path: cfg.Path, State: StateStopped},
	}
}

// Start starts the plugin and returns once it has described itself, or
// with the reason it could not start: a *StartError wrapping
// ErrChecksumMismatch, ErrIncompatibleProtocol or the cause. After a
// successful Start the plugin is restarted whenever it exits, until Close.
// Start may be called once.
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
// ends first it is killed with SIGKILL. Close always returns with the
// plugin gone and the goroutine joined.
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
	pid := s.info.PID
	s.mu.Unlock()
	if p, err := os.FindProcess(pid); pid > 0 && err == nil {
		_ = p.Kill()
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

	client, err := s.spawn()
	first <- err
	if err != nil {
		s.setStopped(err)
		return
	}
	backoff := s.cfg.MinBackoff
	for {
		startedAt := time.Now()
		if !s.wait(client) {
			s.kill(client)
			s.setStopped(nil)
			return
		}
		exitErr := fmt.Errorf("plugin process exited unexpectedly")
		gen := s.setExited(exitErr)
		s.log.Error("plugin exited; restarting", "generation", gen, "restart_in", backoff.String())
		if s.cfg.OnExit != nil {
			s.cfg.OnExit(gen, exitErr)
		}
		client.Kill() // reap and release go-plugin's goroutines
		if time.Since(startedAt) > time.Minute {
			backoff = s.cfg.MinBackoff
		}
		for {
			select {
			case <-s.closing:
				s.setStopped(nil)
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, s.cfg.MaxBackoff)
			client, err = s.spawn()
			if err == nil {
				break
			}
			s.setRestartFailed(err)
			s.log.Error("plugin restart failed", "error", err, "retry_in", backoff.String())
		}
		driver, gen, _ := s.Driver()
		s.log.Info("plugin restarted", "generation", gen)
		if s.cfg.OnRestart != nil {
			s.cfg.OnRestart(driver, gen)
		}
	}
}

// wait returns false when the supervisor is closing, true when the plugin
// has exited.
func (s *Supervisor) wait(c *plugin.Client) bool {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return false
		case <-t.C:
			if c.Exited() {
				return true
			}
		}
	}
}

func (s *Supervisor) kill(c *plugin.Client) {
	c.Kill()
	s.mu.Lock()
	s.driver, s.client = nil, nil
	s.mu.Unlock()
}

func (s *Supervisor) setStopped(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.driver, s.client = nil, nil
	s.info.State = StateStopped
	s.info.PID = 0
	if err != nil {
		s.info.LastError = err.Error()
	}
}

func (s *Supervisor) setExited(err error) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.driver, s.client = nil, nil
	s.info.State = StateRestarting
	s.info.LastError = err.Error()
	s.info.PID = 0
	return s.generation
}

func (s *Supervisor) setRestartFailed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.info.LastError = err.Error()
}

// spawn starts the plugin once and records it as running.
func (s *Supervisor) spawn() (*plugin.Client, error) {
	fail := func(err error) error { return &StartError{Plugin: s.cfg.Name, Path: s.cfg.Path, Err: err} }
	sum, err := FileSHA256(s.cfg.Path)
	if err != nil {
		return nil, fail(err)
	}
	var secure *plugin.SecureConfig
	if s.cfg.SHA256 != "" {
		want := strings.ToLower(s.cfg.SHA256)
		if sum != want {
			return nil, fail(fmt.Errorf("%w: the configuration gives sha256 %s, the file has %s", ErrChecksumMismatch, want, sum))
		}
		raw, _ := hex.DecodeString(want)
		// go-plugin checks again right before it executes the file.
		secure = &plugin.SecureConfig{Checksum: raw, Hash: sha256.New()}
	}

	cmd := exec.Command(s.cfg.Path, s.cfg.Args...)
	msgSize := cmp.Or(s.cfg.MaxMessageSize, sdk.DefaultMaxMessageSize)
	cmd.Env = envList(s.cfg.Tracing.env(), s.cfg.Env, map[string]string{sdk.MaxMessageSizeEnv: strconv.Itoa(msgSize)})
	setParentDeathSignal(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.PluginSets(),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     s.cfg.StartTimeout,
		// The call's trace context travels to the plugin in the metadata.
		GRPCDialOptions: append(sdk.GRPCDialOptions(), sdk.MessageSizeDialOptions(msgSize)...),
		Logger:          newSlogAdapter(s.log),
		Stderr:          io.Discard, // lines still reach Logger, parsed
		SyncStdout:      &lineWriter{log: s.log, stream: "stdout"},
		SyncStderr:      &lineWriter{log: s.log, stream: "stderr"},
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fail(fmt.Errorf("%w: the file changed after it was checked", ErrChecksumMismatch))
		}
		if v, ok := pluginVersion(err); ok {
			return nil, fail(fmt.Errorf("%w: the plugin speaks protocol version %d; this host speaks version %d. Use a plugin built for protocol %d, or a host that speaks %d",
				ErrIncompatibleProtocol, v, sdk.ProtocolVersion, sdk.ProtocolVersion, v))
		}
		return nil, fail(err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		client.Kill()
		return nil, fail(err)
	}
	driver, ok := raw.(sdk.Driver)
	if !ok {
		client.Kill()
		return nil, fail(fmt.Errorf("plugin dispensed %T, not a driver", raw))
	}

	info := driver.Info()
	types := make([]string, 0, len(info.Types))
	for _, t := range info.Types {
		types = append(types, t.Name)
	}
	sort.Strings(types)
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.generation > 0 {
		s.info.Restarts++
	}
	s.generation++
	s.client, s.driver = client, driver
	s.info.State = StateRunning
	s.info.SHA256 = sum
	s.info.Version = info.Version
	s.info.Driver = info.Name
	s.info.Protocol = client.NegotiatedVersion()
	s.info.Types = types
	s.info.PID = pid
	s.info.Generation = s.generation
	s.log.Info("plugin started", "pid", pid, "version", info.Version, "generation", s.generation)
	return client, nil
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
