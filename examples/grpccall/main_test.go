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
const want = `methods of nebula.demo.v1.Demo:
  nebula.demo.v1.Demo/Echo     invoke
  nebula.demo.v1.Demo/Fail     invoke
  nebula.demo.v1.Demo/Headers  invoke
  nebula.demo.v1.Demo/Count    server_stream
  nebula.demo.v1.Demo/Sum      client_stream
  nebula.demo.v1.Demo/Chat     bidi_stream
Echo: {"text":"hello/acme","count":2,"tags":["a","b"]}
Count: {"seq":"1","text":"tick"}
Count: {"seq":"2","text":"tick"}
Count: {"seq":"3","text":"tick"}
Count result: {"messages":3,"header":{"content-type":["application/grpc"]}}
Sum: {"total":"100","messages":4}
Fail: kind not_found, code NOT_FOUND: nebula.demo.v1.Demo/Fail: NOT_FOUND: no order 42
`

// The program, on grpccall.hcl, with the plugin binary built from this
// checkout: it starts its server, lists its methods, and calls each kind
// of method through the embedded host.
func TestGRPCCallCallsItsOwnServerThroughTheHost(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nebula-plugin-grpc"),
		"github.com/nebula-resource/nebula-resource/plugins/grpcclient/cmd/nebula-plugin-grpc")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nebula-plugin-grpc: %v\n%s", err, out)
	}
	var out bytes.Buffer
	if err := run(t.Context(), "grpccall.hcl", dir, &out); err != nil {
		t.Fatalf("run: %v\nprinted:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}
}
