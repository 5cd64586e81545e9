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

// want is what the program prints. The retry-afters differ from run to
// run, and so may the burst's counts by one: a sixth call is admitted
// when the burst takes longer than the 200ms a new admission of 5/s
// takes.
var want = regexp.MustCompile(`^acme on memory\.acme_cache: set and got \{"value":"hello","found":true\}
globex on memory\.globex_cache: visits = 1
acme on memory\.globex_cache: permission_denied: tenant "acme" may not use "memory\.globex_cache"
acme on memory\.nothing_here: permission_denied: tenant "acme" may not use "memory\.nothing_here"
h\.Reaches\("acme", "memory\.globex_cache"\) = false, h\.Reaches\("", "memory\.globex_cache"\) = true
no tenant on memory\.globex_cache: visits = 2
acme's second lease: resource_exhausted: quota exceeded: tenant acme holds 1 of its 1 leases on memory\.acme_cache \(retry after \d+ms\)
acme, 10 calls in a row: (\d+) admitted, (\d+) refused
  the last refusal: resource_exhausted: memory\.acme_cache get: quota exceeded: tenant acme is over its rate of 5/s \(burst 5\) on memory\.acme_cache \(retry after (\d+)ms\)
acme, after waiting the retry-after: admitted
through the admin API, with each tenant's token:
  acme-worker lists: memory\.acme_cache
  globex-worker lists: memory\.globex_cache
  acme-worker get on memory\.acme_cache: \{"value":"hello","found":true\}
  globex-worker incr on memory\.globex_cache: \{"value":3\}
  acme-worker get on memory\.globex_cache: 403 permission_denied: tenant "acme" may not use "memory\.globex_cache"
  acme-worker get on memory\.nothing_here: 403 permission_denied: tenant "acme" may not use "memory\.nothing_here"
  acme-worker GET /v1/plugins: 403 permission_denied: identity "acme-worker" acts for tenant "acme": GET /v1/plugins needs the "admin" permission of an identity without a tenant
  no token, GET /v1/resources: 401 unauthenticated: the admin API needs credentials: [^\n]+
  acme-worker get while acme's lease is held: 429 resource_exhausted: memory\.acme_cache get: quota exceeded: tenant acme holds 1 of its 1 leases on memory\.acme_cache
  the audit log:
    identity=acme-worker tenant=acme route="POST /v1/resources/\{name\}/invoke" resource=memory\.acme_cache operation=get result=ok status=200
    identity=globex-worker tenant=globex route="POST /v1/resources/\{name\}/invoke" resource=memory\.globex_cache operation=incr result=ok status=200
    identity=acme-worker tenant=acme route="POST /v1/resources/\{name\}/invoke" resource=memory\.globex_cache operation=- result=permission_denied status=403
    identity=acme-worker tenant=acme route="POST /v1/resources/\{name\}/invoke" resource=memory\.nothing_here operation=- result=permission_denied status=403
    identity=acme-worker tenant=acme route="GET /v1/plugins" resource=- operation=- result=permission_denied status=403
    identity=- tenant=- route="GET /v1/resources" resource=- operation=- result=unauthenticated status=401
    identity=acme-worker tenant=acme route="POST /v1/resources/\{name\}/invoke" resource=memory\.acme_cache operation=get result=resource_exhausted status=429
  acme-worker, 10 calls in a row: (\d+) admitted, (\d+) refused \(429 resource_exhausted\)
nebula_tenant_admitted_total\{resource="memory\.acme_cache",tenant="acme"\} (\d+)
nebula_tenant_leases_out\{resource="memory\.acme_cache",tenant="acme"\} 0
nebula_tenant_refused_total\{resource="memory\.acme_cache",tenant="acme"\} (\d+)
$`)

// The program, on tenants.hcl, with the plugin binary built from this
// checkout: each tenant reaches its own resource only, through the Go API
// and through the admin API with its identity's token; acme's second
// lease and its calls beyond the burst are refused; the audit log records
// each call and refusal, and the metrics each admission and refusal.
func TestTenantsReachTheirOwnResourcesWithinTheirQuotas(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nebula-plugin-memory"),
		"github.com/nebula-resource/nebula-resource/plugins/memory/cmd/nebula-plugin-memory")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nebula-plugin-memory: %v\n%s", err, out)
	}
	var out bytes.Buffer
	if err := run(t.Context(), "tenants.hcl", dir, &out); err != nil {
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
	admitted, refused, retryMS := n(1), n(2), n(3)
	httpAdmitted, httpRefused := n(4), n(5)
	admittedTotal, refusedTotal := n(6), n(7)
	for _, b := range []struct {
		how               string
		admitted, refused int
	}{{"through Go", admitted, refused}, {"through HTTP", httpAdmitted, httpRefused}} {
		if b.admitted < 5 || b.admitted > 6 || b.admitted+b.refused != burstCalls {
			t.Errorf("the burst %s: %d admitted, %d refused; want 5 (the burst) or 6 admitted of %d", b.how, b.admitted, b.refused, burstCalls)
		}
	}
	if retryMS < 1 || retryMS > 200 {
		t.Errorf("the rate's retry-after is %d ms; want at most 200 ms, the time between two admissions at 5/s", retryMS)
	}
	// Admitted: through Go the lease of the first step, the lease held
	// while the second was refused, the burst's and the call after the
	// retry-after; through HTTP acme-worker's get, the lease the program
	// held, and the burst's. Refused: the second leases and the bursts'.
	// globex has no quota, and nothing counts its calls.
	wantAdmitted, wantRefused := 5+admitted+httpAdmitted, 2+refused+httpRefused
	if admittedTotal != wantAdmitted || refusedTotal != wantRefused {
		t.Errorf("the metrics count %d admitted and %d refused; want %d and %d", admittedTotal, refusedTotal, wantAdmitted, wantRefused)
	}
}
