package loglevel_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/host/loglevel"
)

func TestLevelsFollowTheMostSpecificComponent(t *testing.T) {
	levels := map[string]slog.Level{
		"plugin":          slog.LevelWarn,
		"plugin.postgres": slog.LevelDebug,
		"admin":           slog.LevelError,
		"resource":        slog.LevelDebug,
	}
	var buf bytes.Buffer
	base := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: loglevel.Lowest(slog.LevelInfo, levels)})
	log := slog.New(loglevel.New(base, slog.LevelInfo, levels))

	log.Debug("host debug")                                   // default info: dropped
	log.Info("host info")                                     // kept
	log.With("plugin", "memory").Info("memory info")          // plugin warn: dropped
	log.With("plugin", "memory").Warn("memory warn")          // kept
	log.With("plugin", "postgres").Debug("postgres debug")    // plugin.postgres debug: kept
	log.With("component", "admin").Warn("admin warn")         // admin error: dropped
	log.With("resource", "memory.cache").Debug("cache debug") // resource debug: kept
	log.With("plugin", "postgres").With("x", 1).WithGroup("g").Debug("still postgres")

	got := buf.String()
	for _, want := range []string{"host info", "memory warn", "postgres debug", "cache debug", "still postgres"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"host debug", "memory info", "admin warn"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("logged %q:\n%s", unwanted, got)
		}
	}
	if log.Handler().Enabled(context.Background(), slog.LevelDebug) {
		t.Error("the default logger enabled debug")
	}
}
