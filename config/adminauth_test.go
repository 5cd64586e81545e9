package config_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/nebula-resource/nebula-resource/config"
)

const (
	hashA = "3f1c9e4e6b1a0b7f7ad5e2c4d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2"
	hashB = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
)

func TestAdminBlockReadsTLSIdentitiesAndAudit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "main.hcl")
	writeFile(t, path, `
credential "admin" {
  source    = "env"
  variables = { acme_token = "ACME_TOKEN" }
}
admin {
  address      = "0.0.0.0:9464"
  allow_remote = true
  tls {
    cert_file      = "server.pem"
    key_file       = "/etc/nebula/server-key.pem"
    client_ca_file = "ca/ca.pem"
  }
  identity "ops" {
    token_sha256 = "`+strings.ToUpper(hashA)+`"
    allow        = ["read", "invoke", "admin"]
  }
  identity "acme-worker" {
    token             = credential.admin.acme_token
    client_cert_names = ["acme-worker", "worker.acme.internal"]
    tenant            = "acme"
    allow             = ["invoke"]
  }
  identity "viewer" {
    client_cert_names = ["viewer"]
  }
  audit {
    path = "log/audit.jsonl"
  }
}
tenant "acme" {
  resources = []
}
`)
	cfg := mustLoad(t, path, environ(nil))
	a := cfg.Admin
	if !a.AllowRemote || !a.RemoteAccess() {
		t.Errorf("AllowRemote %v, RemoteAccess %v: want both", a.AllowRemote, a.RemoteAccess())
	}
	tls := a.Auth.TLS
	if tls == nil || tls.CertFile != filepath.Join(dir, "server.pem") || tls.KeyFile != "/etc/nebula/server-key.pem" ||
		tls.ClientCAFile != filepath.Join(dir, "ca", "ca.pem") || tls.DeclRange.Start.Line != 9 {
		t.Errorf("TLS = %+v: want the paths resolved against %s", tls, dir)
	}
	if au := a.Auth.Audit; au == nil || au.Path != filepath.Join(dir, "log", "audit.jsonl") {
		t.Errorf("Audit = %+v", au)
	}
	ids := a.Auth.Identities
	if len(ids) != 3 {
		t.Fatalf("%d identities, want 3", len(ids))
	}
	ops, acme, viewer := ids[0], ids[1], ids[2]
	if ops.Name != "ops" || ops.TokenSHA256 != hashA || ops.Token != nil || ops.Tenant != "" ||
		!reflect.DeepEqual(ops.Allow, []string{"read", "invoke", "admin"}) || !ops.Allows(config.PermissionAdmin) || ops.DeclRange.Start.Line != 14 {
		t.Errorf("ops = %+v: want the hash in lower case", ops)
	}
	if acme.Name != "acme-worker" || acme.TokenSHA256 != "" || acme.Token == nil || acme.Token.Credential != "admin" || acme.Token.Attribute != "acme_token" ||
		acme.Token.Range.Start.Line != 19 || !reflect.DeepEqual(acme.ClientCertNames, []string{"acme-worker", "worker.acme.internal"}) ||
		acme.Tenant != "acme" || !reflect.DeepEqual(acme.Allow, []string{"invoke"}) || acme.Allows(config.PermissionRead) {
		t.Errorf("acme-worker = %+v, token %+v", acme, acme.Token)
	}
	if viewer.Name != "viewer" || !reflect.DeepEqual(viewer.Allow, []string{config.PermissionRead}) {
		t.Errorf("viewer = %+v: want allow to default to read", viewer)
	}

	// The audit log may go to standard error, which is no path.
	path = filepath.Join(dir, "stderr.hcl")
	writeFile(t, path, "admin {\n  audit {\n    path = \"stderr\"\n  }\n}\n")
	if au := mustLoad(t, path, environ(nil)).Admin.Auth.Audit; au == nil || au.Path != config.AuditStderr {
		t.Errorf("Audit = %+v, want stderr", au)
	}
}

// Each mistake in the admin block's authentication gets a diagnostic at
// the range that shows it.
func TestAdminAuthDiagnostics(t *testing.T) {
	tests := []struct {
		name, src string
		// want are the diagnostics, file:line:column: error: summary;
		// detail, in the order Load returns them; a want ending in "…"
		// matches any rest.
		want []string
	}{
		{
			name: "duplicate identity",
			src: `admin {
  identity "ops" {
    token_sha256 = "` + hashA + `"
  }
  identity "ops" {
    token_sha256 = "` + hashB + `"
  }
}`,
			want: []string{`main.hcl:5:12: error: Duplicate identity; An identity named "ops" was already declared at main.hcl:2:3. Give each identity a unique name.`},
		},
		{
			name: "identity without credentials",
			src:  "admin {\n  identity \"ops\" {\n    allow = [\"read\"]\n  }\n}",
			want: []string{`main.hcl:2:3: error: Identity without credentials; Identity "ops" has no way to authenticate: set token_sha256 or token for a bearer token, or client_cert_names for a client certificate.`},
		},
		{
			name: "token and token_sha256",
			src:  "admin {\n  identity \"ops\" {\n    token_sha256 = \"" + hashA + "\"\n    token        = credential.admin.ops\n  }\n}" + "\ncredential \"admin\" {\n  source    = \"env\"\n  variables = { ops = \"X\", shared = \"Y\" }\n}",
			want: []string{`main.hcl:4:5: error: Conflicting token attributes; An identity takes its bearer token from token or from token_sha256, not from both. Remove one of them.`},
		},
		{
			name: "token_sha256 too short",
			src:  "admin {\n  identity \"ops\" {\n    token_sha256 = \"3f1c\"\n  }\n}",
			want: []string{`main.hcl:3:20: error: Invalid token_sha256; The token's SHA-256 has 4 characters instead of 64; write the 64 hexadecimal characters that "printf %s \"$TOKEN\" | sha256sum" prints for the token.`},
		},
		{
			name: "token_sha256 not hexadecimal",
			src:  "admin {\n  identity \"ops\" {\n    token_sha256 = \"" + hashA[:63] + "g\"\n  }\n}",
			want: []string{`main.hcl:3:20: error: Invalid token_sha256; The token's SHA-256 has a character that is not hexadecimal at position 64; …`},
		},
		{
			name: "token given as a string",
			src:  "admin {\n  identity \"ops\" {\n    token = \"s3cr3t-token\"\n  }\n}",
			want: []string{`main.hcl:3:13: error: Invalid token reference; token refers to the attribute of a credential that holds the bearer token, as in token = credential.admin.acme_token. To fix the token in the configuration, write its SHA-256 in token_sha256, never the token itself.`},
		},
		{
			name: "token refers to a whole credential",
			src:  "admin {\n  identity \"ops\" {\n    token = credential.admin\n  }\n}",
			want: []string{`main.hcl:3:13: error: Invalid token reference; …`},
		},
		{
			name: "unknown permission",
			src:  "admin {\n  identity \"ops\" {\n    token_sha256 = \"" + hashA + "\"\n    allow        = [\"invoke\", \"reed\"]\n  }\n}",
			want: []string{`main.hcl:4:20: error: Invalid permission; allow lists "reed", which is not a permission; use "invoke", "read" or "admin". Did you mean "read"?`},
		},
		{
			name: "empty allow",
			src:  "admin {\n  identity \"ops\" {\n    token_sha256 = \"" + hashA + "\"\n    allow        = []\n  }\n}",
			want: []string{`main.hcl:4:20: error: Invalid permission; allow is empty, so the identity may do nothing; …`},
		},
		{
			name: "admin permission of a tenant",
			src:  "admin {\n  identity \"acme\" {\n    token_sha256 = \"" + hashA + "\"\n    tenant       = \"acme\"\n    allow        = [\"admin\"]\n  }\n}" + "\ntenant \"acme\" {\n  resources = []\n}",
			want: []string{`main.hcl:5:20: error: Admin permission of a tenant; Identity "acme" acts for tenant "acme", and the admin permission (plugins, metrics, reload) concerns every tenant; …`},
		},
		{
			name: "empty tenant",
			src:  "admin {\n  identity \"ops\" {\n    token_sha256 = \"" + hashA + "\"\n    tenant       = \"\"\n  }\n}",
			want: []string{`main.hcl:4:20: error: Invalid tenant; tenant is empty; …`},
		},
		{
			name: "invalid identity name",
			src:  "admin {\n  identity \"o p s\" {\n    token_sha256 = \"" + hashA + "\"\n  }\n}",
			want: []string{`main.hcl:2:12: error: Invalid identity name; …`},
		},
		{
			name: "client certificate names without a tls block",
			src:  "admin {\n  identity \"ops\" {\n    client_cert_names = [\"ops\"]\n  }\n}",
			want: []string{`main.hcl:3:25: error: Client certificates not verified; Identity "ops" names client certificates, but the admin block has no tls block with client_ca_file to verify them against. …`},
		},
		{
			name: "client certificate names without client_ca_file",
			src: `admin {
  identity "ops" {
    client_cert_names = ["ops"]
  }
  tls {
    cert_file = "server.pem"
    key_file  = "server-key.pem"
  }
}`,
			want: []string{`main.hcl:3:25: error: Client certificates not verified; …`},
		},
		{
			name: "duplicate token hash",
			src: `admin {
  identity "a" {
    token_sha256 = "` + hashA + `"
  }
  identity "b" {
    token_sha256 = "` + strings.ToUpper(hashA) + `"
  }
}`,
			want: []string{`main.hcl:6:20: error: Duplicate token; Identity "b" has the token_sha256 of identity "a", declared at main.hcl:2:3: a token must name one identity. Give each identity a token of its own.`},
		},
		{
			name: "duplicate token reference",
			src: `admin {
  identity "a" {
    token = credential.admin.shared
  }
  identity "b" {
    token = credential.admin.shared
  }
}
credential "admin" {
  source    = "env"
  variables = { shared = "Y" }
}`,
			want: []string{`main.hcl:6:13: error: Duplicate token; Identity "b" takes its token from credential.admin.shared, as identity "a", declared at main.hcl:2:3, does: …`},
		},
		{
			name: "duplicate client certificate name",
			src: `admin {
  tls {
    cert_file      = "server.pem"
    key_file       = "server-key.pem"
    client_ca_file = "ca.pem"
  }
  identity "a" {
    client_cert_names = ["worker"]
  }
  identity "b" {
    client_cert_names = ["other", "worker"]
  }
}`,
			want: []string{`main.hcl:11:25: error: Duplicate client certificate name; Identity "b" lists the client certificate name "worker", which identity "a", declared at main.hcl:7:3, lists too: …`},
		},
		{
			name: "duplicate tls block",
			src:  "admin {\n  tls {\n    cert_file = \"a.pem\"\n    key_file  = \"a-key.pem\"\n  }\n  tls {\n    cert_file = \"b.pem\"\n    key_file  = \"b-key.pem\"\n  }\n}",
			want: []string{`main.hcl:6:3: error: Duplicate tls block; A tls block was already declared at main.hcl:2:3. Merge the two blocks into one.`},
		},
		{
			name: "tls without a key",
			src:  "admin {\n  tls {\n    cert_file = \"a.pem\"\n  }\n}",
			want: []string{`main.hcl:2:7: error: Missing required argument; The argument "key_file" is required, but no definition was found.`},
		},
		{
			name: "empty audit path",
			src:  "admin {\n  audit {\n    path = \"\"\n  }\n}",
			want: []string{`main.hcl:3:12: error: Invalid path; Attribute "path" wants a file path, or "stderr" for the host's standard error; got an empty string.`},
		},
		{
			name: "remote address without identities",
			src:  "admin {\n  address      = \"0.0.0.0:9464\"\n  allow_remote = true\n}",
			want: []string{`main.hcl:2:18: error: Remote admin address without identities; The admin address "0.0.0.0:9464" lets other machines reach the admin API, and the admin block declares no identity, so every caller would be trusted. …`},
		},
		{
			name: "remote address with identities but without allow_remote",
			src:  "admin {\n  address = \"0.0.0.0:9464\"\n  identity \"ops\" {\n    token_sha256 = \"" + hashA + "\"\n  }\n}",
			want: []string{`main.hcl:2:13: error: Admin address is not loopback; The admin address "0.0.0.0:9464" lets other machines reach the admin API. Use a loopback address such as "127.0.0.1:9464", or, if remote access is intended, set allow_remote = true and declare an identity block for each caller in the admin block.`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "main.hcl"), tc.src)
			_, diags := config.Load(filepath.Join(dir, "main.hcl"), environ(nil))
			got := strings.Split(strings.TrimSpace(strings.ReplaceAll(formatAll(diags), dir+string(filepath.Separator), "")), "\n")
			if len(got) != len(tc.want) {
				t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if prefix, ok := strings.CutSuffix(w, "…"); ok && strings.HasPrefix(got[i], prefix) || got[i] == w {
					continue
				}
				t.Errorf("got  %s\nwant %s", got[i], w)
			}
		})
	}
}

// The token attribute is a reference read for its names: the credential
// need not hold a value, or even be declared, when the configuration is
// loaded (whether it is declared is checked with the other references).
func TestIdentityTokenIsNotEvaluated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.hcl")
	writeFile(t, path, `
credential "admin" {
  source    = "env"
  variables = { ops = "NEBULA_TEST_UNSET_TOKEN" }
}
admin {
  identity "ops" {
    token = credential.admin.ops
  }
}`)
	cfg := mustLoad(t, path, environ(nil))
	ref := cfg.Admin.Auth.Identities[0].Token
	if ref == nil || ref.Credential != "admin" || ref.Attribute != "ops" || ref.Range.Start.Line != 8 || ref.Range.Start.Column != 13 {
		t.Fatalf("Token = %+v", ref)
	}
}

func TestCheckAdminAddressWantsRemoteAccessForANonLoopbackAddress(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:9464", false, true},
		{"localhost:9464", false, true},
		{"0.0.0.0:9464", false, false},
		{"0.0.0.0:9464", true, true},
		{"10.0.0.5:9464", false, false},
		{"127.0.0.1:99999", true, false},
	} {
		err := config.CheckAdminAddress(tc.addr, tc.remote)
		if tc.ok != (err == nil) {
			t.Errorf("CheckAdminAddress(%q, %v) = %v", tc.addr, tc.remote, err)
		}
		if err != nil && !tc.ok && !strings.Contains(err.Error(), "127.0.0.1:99999") && !strings.Contains(err.Error(), "allow_remote = true and declare an identity") {
			t.Errorf("CheckAdminAddress(%q, %v) = %v: want it to say how to allow remote access", tc.addr, tc.remote, err)
		}
	}
	for _, tc := range []struct {
		a    config.Admin
		want bool
	}{
		{config.Admin{}, false},
		{config.Admin{AllowRemote: true}, false},
		{config.Admin{Auth: config.AdminAuth{Identities: []*config.Identity{{Name: "ops"}}}}, false},
		{config.Admin{AllowRemote: true, Auth: config.AdminAuth{Identities: []*config.Identity{{Name: "ops"}}}}, true},
	} {
		if got := tc.a.RemoteAccess(); got != tc.want {
			t.Errorf("RemoteAccess of %+v = %v, want %v", tc.a, got, tc.want)
		}
	}
}

// The ranges of the diagnostics point into the file, so that editors can
// jump to them: each has the file's name and a line in it.
func TestAdminAuthDiagnosticsHaveRanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "main.hcl")
	writeFile(t, path, "admin {\n  identity \"ops\" {\n    allow = [\"rea\"]\n  }\n}")
	_, diags := config.Load(path, environ(nil))
	if len(diags) != 2 {
		t.Fatalf("diagnostics: %s", formatAll(diags))
	}
	for _, d := range diags {
		if d.Subject == nil || d.Subject.Filename != path || d.Subject.Start.Line < 2 || d.Severity != hcl.DiagError {
			t.Errorf("diagnostic %q has subject %v", d.Summary, d.Subject)
		}
	}
	if err := errors.Join(diags.Errs()...); !strings.Contains(err.Error(), `Did you mean "read"?`) {
		t.Errorf("no suggestion: %v", err)
	}
}
