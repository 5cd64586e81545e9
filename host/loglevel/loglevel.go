// Package loglevel filters slog records by the component they come from,
// so that one part of the host can log at debug while the rest stays at
// info:
//
//	host {
//	  log_level  = "info"
//	  log_levels = { "plugin.postgres" = "debug", admin = "warn" }
//	}
//
// A logger's component is read from the attributes it was made with
// (logger.With): "component" (admin, ...), "plugin" (a plugin's own lines
// and its supervisor's, as plugin.NAME) and "resource" (as resource.ID,
// for example resource.postgres.main). The most specific name set wins:
// "plugin.postgres" over "plugin", and both over the default level.
package loglevel

import (
	"context"
	"log/slog"
)

// Handler filters by component and passes what it lets through to the
// handler it wraps, which must accept every level (make it with the
// lowest level in use; see Lowest).
type Handler struct {
	next   slog.Handler
	levels map[string]slog.Level
	level  slog.Level // in effect for this logger's component
	// rank is how specific the name that set level is: 0 for the
	// default, 1 for "plugin", 2 for "plugin.postgres".
	rank int
}

// New returns a handler that logs records at def and above, or at the
// level its component has in levels.
func New(next slog.Handler, def slog.Level, levels map[string]slog.Level) *Handler {
	return &Handler{next: next, levels: levels, level: def}
}

// Lowest returns the lowest of def and the levels, the level the wrapped
// handler must let through.
func Lowest(def slog.Level, levels map[string]slog.Level) slog.Level {
	low := def
	for _, l := range levels {
		low = min(low, l)
	}
	return low
}

// Enabled reports whether level is at or above the component's level.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool { return level >= h.level }

// Handle passes the record on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error { return h.next.Handle(ctx, r) }

// WithAttrs returns a handler for a logger with these attributes, at the
// level of the component they name, if any.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	for _, a := range as {
		var group string
		switch a.Key {
		case "component":
			group = ""
		case "plugin", "resource":
			group = a.Key
		default:
			continue
		}
		name := a.Value.String()
		candidates := []struct {
			key  string
			rank int
		}{{name, 1}}
		if group != "" {
			candidates = []struct {
				key  string
				rank int
			}{{group, 1}, {group + "." + name, 2}}
		}
		for _, k := range candidates {
			if l, ok := h.levels[k.key]; ok && k.rank >= c.rank {
				c.level, c.rank = l, k.rank
			}
		}
	}
	return &c
}

// WithGroup returns a handler whose attributes go in the group.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}
