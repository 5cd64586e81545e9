package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is what the program prints, line by line; the counts and the time
// differ from run to run.
var want = regexp.MustCompile(`^4 workers call http\.api through the host with the first token
issued a second token \(the API accepts both\) and renamed a new credential file over the old
the host opened the resource anew with the second token; new calls carry it
calls under way on the old instances that finished with the first token: \d+
drain_timeout \(2s\) passed: the first token is revoked
credential api \(file\): ok, version 2
served by the API: (\d+) with the first token, (\d+) with the second; refused: 0
(\d+) calls, 0 failed; switched to the new token after (\d+) ms; old token revoked
$`)

// The program, on rotation.hcl, with the plugin binary built from this
// checkout: the token moves from the first to the second while four
// workers call without pause, no call fails, the API refuses none, and
// the host switches within a few poll intervals of the file's change.
func TestRotationSwitchesTokensWithoutAFailedCall(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nebula-plugin-http"),
		"github.com/nebula-resource/nebula-resource/plugins/http/cmd/nebula-plugin-http")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nebula-plugin-http: %v\n%s", err, out)
	}
	// run sets both; t.Setenv puts back what they were.
	t.Setenv("ROTATION_API_URL", "")
	t.Setenv("ROTATION_CREDENTIAL_FILE", "")
	var out bytes.Buffer
	if err := run(t.Context(), "rotation.hcl", dir, &out); err != nil {
		t.Fatalf("run: %v\nprinted:\n%s", err, out.String())
	}
	m := want.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("printed\n%s\nwant lines matching\n%s", out.String(), want)
	}
	n := func(i int) int {
		v, err := strconv.Atoi(m[i])
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first, second, calls, switchMS := n(1), n(2), n(3), n(4)
	if first == 0 || second == 0 {
		t.Errorf("the API served %d calls with the first token and %d with the second; want some with each", first, second)
	}
	if first+second != calls {
		t.Errorf("the API served %d calls, the workers made %d", first+second, calls)
	}
	// poll_interval is 100ms; opening the http resource anew takes a few
	// milliseconds. 5s leaves room for a loaded machine running -race.
	if switchMS > 5000 {
		t.Errorf("switched after %d ms; want it within a few poll intervals", switchMS)
	}
}
