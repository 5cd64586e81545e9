package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is what the program prints, on any run.
const want = `POST /items A-1: 201
POST /items B-7: 201
  A-1  anchor    12
  B-7  bolt     400
GET /report.csv: 200, 1001 lines, 6006 sold
GET /flaky: 200 {"attempts":2} after a retry of at least 1s: true
GET /items/Z-9: not_found
`

// The program, on httpapi.hcl, with the plugin binary built from this
// checkout: it creates, lists, streams the report, rides out the 503 and
// reports the 404 as not_found.
func TestHTTPAPICreatesListsStreamsAndRetries(t *testing.T) {
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
