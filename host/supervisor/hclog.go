package supervisor

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// slogAdapter lets go-plugin, which logs with hclog, write to the host's
// slog logger. go-plugin parses the plugin's JSON stderr lines and logs them
// here with their own level and fields.
type slogAdapter struct {
	l    *slog.Logger
	name string
	args []any
}

func newSlogAdapter(l *slog.Logger) hclog.Logger { return &slogAdapter{l: l} }

var _ hclog.Logger = (*slogAdapter)(nil)

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace, hclog.Debug, hclog.NoLevel:
		return slog.LevelDebug
	case hclog.Info:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (a *slogAdapter) Log(level hclog.Level, msg string, args ...any) {
	lvl := slogLevel(level)
	if msg == "plugin failed to exit gracefully" {
		// go-plugin says so whenever the supervisor killed the plugin's
		// group first (a failed start, a plugin that already exited):
		// the supervisor logs what happened.
		lvl = slog.LevelDebug
	}
	if !a.l.Enabled(context.Background(), lvl) {
		return
	}
	all := make([]any, 0, len(a.args)+len(args)+2)
	if a.name != "" {
		all = append(all, "logger", a.name)
	}
	all = append(all, a.args...)
	all = append(all, args...)
	for i := 0; i+1 < len(all); i += 2 {
		// go-plugin says "plugin" for the binary's path; the host's
		// "plugin" attribute is the plugin's name.
		if all[i] == "plugin" {
			all[i] = "path"
		}
	}
	a.l.Log(context.Background(), lvl, msg, all...)
}

func (a *slogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *slogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *slogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *slogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *slogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *slogAdapter) IsTrace() bool { return a.l.Enabled(context.Background(), slog.LevelDebug) }
func (a *slogAdapter) IsDebug() bool { return a.l.Enabled(context.Background(), slog.LevelDebug) }
func (a *slogAdapter) IsInfo() bool  { return a.l.Enabled(context.Background(), slog.LevelInfo) }
func (a *slogAdapter) IsWarn() bool  { return a.l.Enabled(context.Background(), slog.LevelWarn) }
func (a *slogAdapter) IsError() bool { return a.l.Enabled(context.Background(), slog.LevelError) }

func (a *slogAdapter) ImpliedArgs() []any { return a.args }

func (a *slogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.args = append(append([]any(nil), a.args...), args...)
	return &c
}

func (a *slogAdapter) Name() string { return a.name }

func (a *slogAdapter) Named(name string) hclog.Logger {
	c := *a
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (a *slogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	return &c
}

func (a *slogAdapter) SetLevel(hclog.Level) {}

func (a *slogAdapter) GetLevel() hclog.Level {
	switch {
	case a.IsDebug():
		return hclog.Debug
	case a.IsInfo():
		return hclog.Info
	case a.IsWarn():
		return hclog.Warn
	}
	return hclog.Error
}

func (a *slogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(a.l.Handler(), slog.LevelInfo)
}

func (a *slogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return a.StandardLogger(nil).Writer()
}

// lineWriter logs each line written to it, for what a plugin prints to its
// own stdout and stderr (which go-plugin forwards over its stdio stream)
// rather than through its logger.
type lineWriter struct {
	log    *slog.Logger
	stream string

	mu  sync.Mutex // guards buf
	buf []byte
}

// maxLine bounds a buffered partial line; a longer one is logged in parts.
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) >= maxLine {
				w.emit(w.buf)
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) emit(line []byte) {
	line = bytes.TrimRight(line, "\r")
	if len(line) > 0 {
		w.log.Info(string(line), "stream", w.stream)
	}
}
