package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
)

// liveHeap collects until the heap settles and returns the bytes in use.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// heap measures, for each count, the live heap that running a host on a
// loaded configuration keeps once the host has settled (the configuration
// dropped once the host has started, as nebula-host run does),
// and prints each beside the first count with the growth per resource.
// Every allocation is sampled when profile names a file, which then
// holds the heap profile of the last count.
func (r runner) heap(w io.Writer, counts []int, profile string) error {
	if profile != "" {
		runtime.MemProfileRate = 1
	}
	// A first host pays once for what the process keeps from then on
	// (the plugin client's keys and tables, the gRPC and protobuf
	// registries): measure after it, so that every count finds them paid.
	if _, err := r.heapOf(1, ""); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var live []uint64
	for _, n := range counts {
		b, err := r.heapOf(n, profile)
		if err != nil {
			return fmt.Errorf("with %d resources: %w", n, err)
		}
		live = append(live, b)
		fmt.Fprintf(os.Stderr, "N=%d measured\n", n)
	}
	fmt.Fprintln(w, "| N | live heap of the host |\n|---:|---:|")
	for i, n := range counts {
		fmt.Fprintf(w, "| %d | %.1f KiB |\n", n, float64(live[i])/1024)
	}
	for i := 1; i < len(counts); i++ {
		d := float64(int64(live[i])-int64(live[0])) / float64(counts[i]-counts[0])
		fmt.Fprintf(w, "\nN=%d over N=%d: %+.0f B of live heap per resource\n", counts[i], counts[0], d)
	}
	return nil
}

// heapOf loads n resources, starts a host on them, waits r.settle and
// returns the live heap it added.
func (r runner) heapOf(n int, profile string) (uint64, error) {
	dir, err := os.MkdirTemp("", "nebula-scale-heap-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	path, err := r.writeConfig(dir, n, "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	before := liveHeap()
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		return 0, diags
	}
	discard := slog.New(slog.DiscardHandler)
	h, err := host.New(cfg, host.WithPluginDir(r.pluginDir), host.WithLogger(discard))
	if err != nil {
		return 0, err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	}()
	if err := h.Start(context.Background()); err != nil {
		return 0, err
	}
	cfg = nil // the host copied what it keeps
	time.Sleep(r.settle)
	after := liveHeap()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := pprof.WriteHeapProfile(f); err != nil {
			return 0, err
		}
	}
	return after - before, nil
}
