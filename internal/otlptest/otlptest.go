// Package otlptest is an OTLP/gRPC trace collector for tests: it listens
// on 127.0.0.1, keeps every span it receives, and stops with the test.
package otlptest

import (
	"context"
	"encoding/hex"
	"net"
	"slices"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/prototext"
)

// Span is a span the collector received.
type Span struct {
	Name         string
	TraceID      string // hex
	SpanID       string // hex
	ParentSpanID string // hex; empty for a root span
	Service      string // the service.name of its resource
	// Text is every string the span carries besides its ids: its
	// attributes' values, its status message, and its events' names and
	// attributes' values, as prototext, for tests that look for what must
	// not be there (a secret).
	Text string
}

// Collector is a running OTLP/gRPC trace collector.
type Collector struct {
	coltracepb.UnimplementedTraceServiceServer
	addr string

	mu      sync.Mutex
	spans   []Span
	headers []metadata.MD
}

// Start starts a collector on a free port; it stops when the test ends.
func Start(t testing.TB) *Collector {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &Collector{addr: lis.Addr().String()}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, c)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return c
}

// Addr is the collector's host:port.
func (c *Collector) Addr() string { return c.addr }

// Export keeps the spans of one export request.
func (c *Collector) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	md, _ := metadata.FromIncomingContext(ctx)
	c.headers = append(c.headers, md)
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, Span{
					Name: s.GetName(), TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()), Service: service,
					Text: prototext.Format(&tracepb.Span{Name: s.GetName(), Attributes: s.GetAttributes(), Status: s.GetStatus(), Events: s.GetEvents()}),
				})
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// Spans returns the spans received so far.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans)
}

// Header returns the values of a metadata key over every export received.
func (c *Collector) Header(key string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, md := range c.headers {
		out = append(out, md.Get(key)...)
	}
	return out
}
