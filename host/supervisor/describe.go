package supervisor

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"
)

// describeStopTimeout bounds the graceful stop of a plugin Describe
// started; past it the plugin's process group is killed.
const describeStopTimeout = 5 * time.Second

// Describe starts the plugin binary cfg.Path once, as a Supervisor would
// (the same checks of the binary and of cfg.SHA256, the same handshake
// within cfg.StartTimeout), reads what it says of itself, and stops it. The
// Info it returns names the driver, its version, the protocol it speaks,
// its resource types and the SHA-256 of the binary it ran; its State is
// StateStopped. An empty cfg.Name is the binary's file name, a nil
// cfg.Logger discards the plugin's log lines, and cfg's callbacks are not
// called. When the plugin cannot start, the error is Start's, and no
// process of the plugin is left.
func Describe(ctx context.Context, cfg Config) (Info, error) {
	if cfg.Name == "" {
		cfg.Name = filepath.Base(cfg.Path)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.OnExit, cfg.OnRestart = nil, nil
	s := New(cfg)
	err := s.Start(ctx)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), describeStopTimeout)
	defer cancel()
	cerr := s.Close(cctx)
	if err != nil {
		return Info{}, err
	}
	return s.Info(), cerr
}
