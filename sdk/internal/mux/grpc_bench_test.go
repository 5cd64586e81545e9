//go:build unix

package mux

import (
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// BenchmarkUnaryGRPC is BenchmarkUnary's call on gRPC over a Unix socket
// (no TLS), the transport the mux replaces, for comparison in one run.
func BenchmarkUnaryGRPC(b *testing.B) {
	lis, err := net.Listen("unix", filepath.Join(b.TempDir(), "s"))
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterDriverServiceServer(srv, &testService{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient("unix://"+lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	benchParallelCalls(b, pb.NewDriverServiceClient(conn))
}
