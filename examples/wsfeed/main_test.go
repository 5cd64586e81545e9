package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is what the program prints on any run: the feed's shape is fixed.
const want = `received ticks 0-19
reconnected after 1 attempt(s), 20 received before the drop (the server closed the connection with status 1001 (StatusGoingAway): rotating)
  missed ticks 20-21 while reconnecting
received ticks 22-41
reconnected after 1 attempt(s), 20 received before the drop (the server closed the connection with status 1001 (StatusGoingAway): rotating)
  missed ticks 42-43 while reconnecting
received ticks 44-49
46 received, 4 missed in 2 gap(s), 2 reconnect(s)
`

// The program, on wsfeed.hcl with its own feed and the plugin binary
// built from this checkout, receives the 50 ticks across two drops and
// accounts for every one: 46 received, 4 missed at the two reconnections.
func TestWsfeedReceivesAcrossReconnects(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nebula-plugin-websocket"),
		"github.com/nebula-resource/nebula-resource/plugins/websocket/cmd/nebula-plugin-websocket")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nebula-plugin-websocket: %v\n%s", err, out)
	}
	// run sets it; t.Setenv puts back what it was.
	t.Setenv("WSFEED_URL", "")
	var out bytes.Buffer
	if err := run(t.Context(), "wsfeed.hcl", dir, true, &out); err != nil {
		t.Fatalf("run: %v\nprinted:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}
}
