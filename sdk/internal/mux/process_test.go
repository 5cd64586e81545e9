//go:build unix

package mux

import (
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// childEnv makes the test binary the other process of a cross-process
// benchmark: it serves (or echoes raw bytes) on descriptor 3 until the
// connection closes.
const childEnv = "NEBULA_MUX_BENCH_CHILD"

// runChild is the child's side; it reports whether this process is one.
func runChild() bool {
	mode := os.Getenv(childEnv)
	if mode == "" {
		return false
	}
	nc, err := FileConn(os.NewFile(3, "mux"))
	if err != nil {
		os.Exit(2)
	}
	switch mode {
	case "raw":
		buf := make([]byte, 64)
		for {
			n, err := nc.Read(buf)
			if err != nil {
				return true
			}
			if _, err := nc.Write(buf[:n]); err != nil {
				return true
			}
		}
	default:
		srv := NewServer(ServerOptions{MaxMessageSize: 1 << 20})
		pb.RegisterDriverServiceServer(srv, &testService{})
		_ = srv.Serve(context.Background(), nc)
	}
	return true
}

// startChild runs the test binary as a child in mode and returns the
// host's end of its connection; the child ends with the benchmark.
func startChild(b *testing.B, mode string) *os.File {
	hf, pf, err := SocketPair()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "GOMAXPROCS="+os.Getenv("CHILD_GMP"))
	cmd.ExtraFiles = []*os.File{pf}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	_ = pf.Close()
	b.Cleanup(func() {
		_ = hf.Close()
		_ = cmd.Wait()
	})
	return hf
}

// reportLatency reports the median of ds.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/float64(time.Microsecond), "p50-µs")
}

// BenchmarkProcessRawPingPong is the floor of a call to another process:
// 32 bytes there and back over the socket pair, with no framing.
func BenchmarkProcessRawPingPong(b *testing.B) {
	f := startChild(b, "raw")
	nc, err := FileConn(f)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	msg := make([]byte, 32)
	var ds []time.Duration
	for b.Loop() {
		t := time.Now()
		if _, err := nc.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(nc, msg); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t))
	}
	reportLatency(b, ds)
}

// BenchmarkProcessUnarySerial is one unary call at a time to a server in
// another process: the latency a plugin's call adds.
func BenchmarkProcessUnarySerial(b *testing.B) {
	nc, err := FileConn(startChild(b, "serve"))
	if err != nil {
		b.Fatal(err)
	}
	cl := NewClient(nc, ClientOptions{MaxMessageSize: 1 << 20})
	defer cl.Close()
	client := pb.NewDriverServiceClient(cl)
	req := &pb.InvokeRequest{InstanceId: "i0123456789ab-1", Operation: "echo", ArgsJson: []byte(`{"key":"nebula-bench"}`)}
	b.ReportAllocs()
	var ds []time.Duration
	for b.Loop() {
		t := time.Now()
		if _, err := client.Invoke(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t))
	}
	reportLatency(b, ds)
}

// BenchmarkProcessUnary is many calls in flight to a server in another
// process, 16 a processor.
func BenchmarkProcessUnary(b *testing.B) {
	nc, err := FileConn(startChild(b, "serve"))
	if err != nil {
		b.Fatal(err)
	}
	cl := NewClient(nc, ClientOptions{MaxMessageSize: 1 << 20})
	defer cl.Close()
	benchParallelCalls(b, pb.NewDriverServiceClient(cl))
}
