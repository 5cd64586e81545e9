package sdk_test

import (
	"encoding/json"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// benchArgs are arguments of the shape an HTTP request's take.
type benchArgs struct {
	Method         string              `nebula:"method" default:"GET" doc:"d"`
	Path           string              `nebula:"path" default:"" doc:"d"`
	Query          map[string][]string `nebula:"query" default:"{}" doc:"d"`
	Headers        map[string]string   `nebula:"headers" default:"{}" doc:"d"`
	IdempotencyKey string              `nebula:"idempotency_key" default:"" doc:"d"`
	ExpectStatus   []int               `nebula:"expect_status" default:"[]" doc:"d"`
	Body           string              `nebula:"body" default:"" doc:"d"`
}

// Decode of the arguments of one call, completed by the host as it sends
// them (every attribute present).
func BenchmarkDecodeArguments(b *testing.B) {
	raw := json.RawMessage(`{"method":"GET","path":"/item","query":{},"headers":{},"idempotency_key":"","expect_status":[],"body":""}`)
	b.ReportAllocs()
	for b.Loop() {
		var a benchArgs
		if err := sdk.Decode(raw, &a); err != nil {
			b.Fatal(err)
		}
	}
}
