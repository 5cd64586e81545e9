package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is what the program prints, on any run. The request counts are
// the API's own: they show which calls the host retried.
const want = `POST /items A-1: 201
POST /items B-7: 201
  A-1  anchor    12
  B-7  bolt     400
GET /report.csv: 200, 1001 lines, 6006 sold
GET /flaky: 200 after 3 requests (503, 503 with Retry-After: 1, 200); waited at least 1s: true
POST /carts/c-1/checkout without idempotency_key: unavailable after 1 request (not retried); orders placed: 0
POST /carts/c-2/checkout with idempotency_key: 201 after 2 requests (retried); orders placed: 1
GET /items/Z-9: not_found after 1 request (not retried)
`

// The program, on httpapi.hcl, with the plugin binary built from this
// checkout: it creates, lists and streams; the host retries the GET that
// answers 503 twice (the second time waiting out its Retry-After) and the
// POST with an idempotency key, and tries once the POST without one and
// the GET answered 404.
func TestHTTPAPIRetriesOnlyWhatIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nebula-plugin-http"),
		"github.com/nebula-resource/nebula-resource/plugins/http/cmd/nebula-plugin-http")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nebula-plugin-http: %v\n%s", err, out)
	}
	t.Setenv("HTTPAPI_URL", "")
	var out bytes.Buffer
	if err := run(t.Context(), "httpapi.hcl", dir, &out); err != nil {
		t.Fatalf("run: %v\nprinted:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}
}
