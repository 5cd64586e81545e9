package main_test

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestProbeFollowsReadinessOfCriticalResourcesOnly(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddress(t)
	// localfs.optional's root does not exist: it fails to start, and as
	// it is not critical the host starts without it and is ready.
	path := writeFile(t, dir, "main.hcl", `
admin {
  address = "`+addr+`"
}
resource "memory" "cache" {}
resource "localfs" "optional" {
  root     = "`+filepath.Join(dir, "missing")+`"
  critical = false
}`)
	startHost(t, path, addr)
	r := nebula(t, nil, "probe", "-addr", addr)
	mustExit(t, r, 0, "probe of a ready host")
	if strings.TrimSpace(r.stdout) != "ready" {
		t.Fatalf("probe printed %q, want ready", r.stdout)
	}
	mustExit(t, nebula(t, nil, "probe", "-live", "-addr", addr), 0, "probe -live")

	// The same resource, critical: the host runs (with -partial-start)
	// but is not ready, and probe says which resource and exits 3.
	dir2 := t.TempDir()
	addr2 := freeAddress(t)
	path2 := writeFile(t, dir2, "main.hcl", `
admin {
  address = "`+addr2+`"
}
resource "memory" "cache" {}
resource "localfs" "needed" {
  root = "`+filepath.Join(dir2, "missing")+`"
}`)
	startHostWith(t, path2, addr2, "/livez", "-partial-start")
	r = nebula(t, nil, "probe", "-addr", addr2)
	mustExit(t, r, 3, "probe of a host whose critical resource failed")
	if !strings.Contains(r.stderr, "[-]localfs.needed failed") || !strings.Contains(r.stderr, "not ready") {
		t.Fatalf("probe's report:\n%s\nwant the failed resource and \"not ready\"", r.stderr)
	}
	mustExit(t, nebula(t, nil, "probe", "-live", "-addr", addr2), 0, "probe -live of a host that is not ready")
	mustExit(t, nebula(t, nil, "probe", "-addr", freeAddress(t)), 1, "probe with no host")
}
