package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/internal/otlptest"
)

// credentialCanaries are secrets set through each credential source, with
// a tail a partial leak still shows.
var credentialCanaries = map[string]string{
	"env":     "cnry-credenv-3Mk8Pq",
	"file":    "cnry-credfile-6Tz1Hw",
	"rotated": "cnry-rotated-1Ld7Yb",
	"exec":    "cnry-credexec-9Gc4Rn",
	"admin":   "cnry-admintoken-5Qa2Xv",
}

// TestNoCredentialLeaks is the canary test of the credential sources:
// env, a watched file (rotated while the host runs) and a command each
// give a secret that a resource sends to a server echoing it in its
// refusals; an admin identity's token is a credential too. After calls,
// health checks, the rotation, an audit log of every call and the host's
// shutdown, no canary appears in the host's log (at debug), in the calls'
// errors, in describe, health -json, the admin API's listings, the
// metrics, the audit log or any exported span.
func TestNoCredentialLeaks(t *testing.T) {
	httpURL, grpcAddr := echoingServers(t)
	col := otlptest.Start(t)
	addr := freeAddress(t)
	dir := t.TempDir()
	t.Setenv("CANARY_CRED_ENV", credentialCanaries["env"])
	credFile := writeFile(t, dir, "api.json", fmt.Sprintf(`{"token": %q}`, credentialCanaries["file"]))
	script := writeFile(t, dir, "creds.sh", fmt.Sprintf("#!/bin/sh\nexp=$(date -u -d '+3 seconds' +%%Y-%%m-%%dT%%H:%%M:%%SZ)\nprintf '{\"token\": \"%s\", \"expiration\": \"%%s\"}\\n' \"$exp\"\n", credentialCanaries["exec"]))
	if err := os.Chmod(script, 0o700); err != nil {
		t.Fatal(err)
	}
	adminFile := writeFile(t, dir, "admin.txt", credentialCanaries["admin"])
	audit := filepath.Join(dir, "audit.jsonl")
	readerHash := sha256.Sum256([]byte("reader-token-not-secret-here"))
	path := writeFile(t, dir, "main.hcl", fmt.Sprintf(`admin {
  address = %[1]q
  identity "ops" {
    token = credential.admin.value
    allow = ["invoke", "read", "admin"]
  }
  identity "reader" {
    token_sha256 = %[8]q
    allow        = ["read"]
  }
  audit {
    path = %[9]q
  }
}

telemetry {
  tracing {
    endpoint = %[2]q
    insecure = true
  }
}

credential "from_env" {
  source    = "env"
  variables = { token = "CANARY_CRED_ENV" }
}

credential "from_file" {
  source = "file"
  path   = %[5]q
}

credential "from_exec" {
  source  = "exec"
  command = [%[6]q]
}

credential "admin" {
  source = "file"
  format = "text"
  path   = %[7]q
}

resource "http" "env" {
  base_url     = %[3]q
  bearer_token = credential.from_env.token
}

resource "http" "file" {
  base_url     = %[3]q
  bearer_token = credential.from_file.token
  health_path  = "/echo"
}

resource "http" "exec" {
  base_url       = %[3]q
  basic_username = "ada"
  basic_password = credential.from_exec.token
}

resource "grpc" "exec" {
  target                = %[4]q
  bearer_token          = credential.from_exec.token
  allow_plaintext_token = true
  health_check          = false
}
`, addr, col.Addr(), httpURL, grpcAddr, credFile, script, adminFile, hex.EncodeToString(readerHash[:]), audit))
	h := startHostWith(t, path, addr, "/livez", "-log-level", "debug")
	env := []string{"NEBULA_ADDR=" + addr, "NEBULA_TOKEN=" + credentialCanaries["admin"]}

	var said strings.Builder
	calls := [][]string{
		{"call", "http.env", "fetch", `{"path":"/echo"}`},
		{"call", "http.file", "fetch", `{"path":"/echo"}`},
		{"call", "http.exec", "fetch", `{"path":"/echo"}`},
		{"call", "grpc.exec", "invoke", `{"method":"canary.Echo/Call","request":{}}`},
	}
	for _, args := range calls {
		r := nebula(t, env, args...)
		if r.code == 0 {
			t.Errorf("%s succeeded against a server that refuses everything:\n%s", strings.Join(args, " "), r)
		}
		said.WriteString(r.stdout + r.stderr)
	}
	// Rotate the file's secret; the resource is configured anew with it.
	tmp := credFile + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, `{"token": %q}`, credentialCanaries["rotated"]), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, credFile); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.output(t), "credentials rotated") {
		if time.Now().After(deadline) {
			t.Fatalf("the host did not rotate the file's credential:\n%s", h.output(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Past the command's expiry: it runs again.
	time.Sleep(3 * time.Second)
	for _, args := range calls {
		r := nebula(t, env, args...)
		said.WriteString(r.stdout + r.stderr)
	}
	for _, args := range [][]string{{"health"}, {"health", "-json"}, {"describe", "http.file"}, {"describe", "grpc.exec"}} {
		r := nebula(t, env, args...)
		if r.code != 0 && r.code != 1 {
			t.Errorf("%s: exit %d\n%s", strings.Join(args, " "), r.code, r)
		}
		said.WriteString(r.stdout + r.stderr)
	}
	if !strings.Contains(said.String(), `"credentials"`) {
		t.Errorf("health -json lists no credentials:\n%s", said.String())
	}
	// A wrong token and a token without the permission are refused and
	// audited.
	for _, tok := range []string{"cnry-wrong-token-Zz9", "reader-token-not-secret-here"} {
		r := nebula(t, []string{"NEBULA_ADDR=" + addr, "NEBULA_TOKEN=" + tok}, "call", "http.env", "fetch", `{"path":"/echo"}`)
		if r.code == 0 {
			t.Errorf("a call with token %q succeeded", tok)
		}
		said.WriteString(r.stdout + r.stderr)
	}
	for _, p := range []string{"/metrics", "/v1/resources", "/v1/health", "/v1/resources/http.file", "/v1/resources/grpc.exec"} {
		body := adminGet(t, addr, p, credentialCanaries["admin"])
		said.WriteString(body)
	}
	if err := h.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	h.waitExit(t, 20*time.Second)

	var spans strings.Builder
	for _, s := range col.Spans() {
		spans.WriteString(s.Name + " " + s.Text + "\n")
	}
	if col.Spans() == nil {
		t.Error("the collector received no span: the canary would not see a leak into one")
	}
	auditLog, err := os.ReadFile(audit)
	if err != nil {
		t.Fatalf("the audit log: %v", err)
	}
	if !strings.Contains(string(auditLog), `"identity":"ops"`) || !strings.Contains(string(auditLog), "unauthenticated") {
		t.Errorf("the audit log does not record the calls and the refusal, so the canary proves nothing:\n%s", auditLog)
	}
	log := h.output(t)
	if !strings.Contains(log, "401") && !strings.Contains(log, "unauthenticated") {
		t.Errorf("the host's log does not show the refusals, so the canary proves nothing:\n%s", log)
	}
	for name, where := range map[string]string{
		"the commands' output": said.String(), "the host's log": log, "the spans": spans.String(), "the audit log": string(auditLog),
	} {
		for _, secret := range credentialCanaries {
			tail := secret[strings.LastIndexByte(secret, '-')+1:]
			if strings.Contains(where, tail) {
				t.Errorf("%s hold the secret %q (or its tail %q):\n%s", name, secret, tail, excerptAround(where, tail))
			}
		}
	}
}

// adminGet GETs path from the admin API at addr with a bearer token and
// returns the body; the status must be 200.
func adminGet(t *testing.T, addr, path, token string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s\n%s", path, resp.Status, body)
	}
	return string(body)
}
