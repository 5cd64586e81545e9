package admin_test

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// The api module's client reads every kind an operation fails with, as
// the operation's driver gave it, and an error that ends a stream whose
// output had begun.
func TestClientReadsEveryKindAndTheErrorTrailer(t *testing.T) {
	base, _ := startEndpoint(t, func(string) string { return `resource "faults" "f" {}` })
	c, err := api.NewClient(base)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, k := range sdk.Kinds {
		t.Run(string(k), func(t *testing.T) {
			args := json.RawMessage(`{"kind":"` + string(k) + `"}`)
			_, err := c.Invoke(t.Context(), "faults.f", api.InvokeRequest{Operation: "fail", Args: args})
			var e *api.Error
			if !errors.As(err, &e) || string(e.Kind) != string(k) || e.StatusCode != e.Kind.HTTPStatus() ||
				e.Resource != "faults.f" || e.Operation != "fail" || !strings.Contains(e.Message, "as asked") {
				t.Fatalf("invoke: %+v", err)
			}
			_, err = c.Stream(t.Context(), "faults.f", api.StreamRequest{Operation: "fail_stream", Args: args})
			if !errors.As(err, &e) || string(e.Kind) != string(k) || e.StatusCode != e.Kind.HTTPStatus() {
				t.Fatalf("a stream that fails before its output: %+v", err)
			}

			s, err := c.Stream(t.Context(), "faults.f", api.StreamRequest{Operation: "fail_stream",
				Args: json.RawMessage(`{"kind":"` + string(k) + `","output":"partial"}`)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			out, err := io.ReadAll(s)
			if string(out) != "partial" || !errors.As(err, &e) || string(e.Kind) != string(k) || e.StatusCode != 200 || e.Operation != "fail_stream" {
				t.Fatalf("a stream that fails after its output: %q, %+v", out, err)
			}
			if _, rerr := s.Result(); rerr != err {
				t.Fatalf("Result: %v, want %v", rerr, err)
			}
		})
	}
}
