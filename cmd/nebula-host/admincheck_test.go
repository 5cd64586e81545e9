package main_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestValidateAndRunAgreeOnTheAdminAddress gives validate and run the same
// admin addresses, in the admin block and in the -admin flag, and checks
// that validate refuses exactly what run refuses. The configuration also
// names a resource type no plugin offers, so that run fails after the
// checks of the address without ever listening: an accepted address shows
// as the "Unknown resource type" error, a refused one as an error about the
// address.
func TestValidateAndRunAgreeOnTheAdminAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		// want is "accepted" or "refused", or "" where either is right as
		// long as validate and run agree (the admin server decides how a
		// name in capitals is taken).
		want string
	}{
		{"LOCALHOST:0", ""},
		{"Localhost:0", ""},
		{"localhost:0", "accepted"},
		{"127.0.0.1:0", "accepted"},
		{"127.0.0.2:0", "accepted"},
		{"[::1]:0", "accepted"},
		{"127.0.0.1:http", "accepted"},
		{"0.0.0.0:0", "refused"},
		{":0", "refused"},
		{"example.com:0", "refused"},
		{"localhost:notaport", "refused"},
		{"localhost:65536", "refused"},
		{"127.0.0.1:-1", "refused"},
		{"localhost", "refused"},
		{"::1:0", "refused"},
	}
	for _, tt := range tests {
		for _, where := range []string{"config", "flag"} {
			t.Run(where+"/"+tt.addr, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				block := ""
				var flag []string
				if where == "config" {
					block = fmt.Sprintf("admin {\n  address = %q\n}\n", tt.addr)
				} else {
					flag = []string{"-admin", tt.addr}
				}
				path := writeFile(t, dir, "main.hcl", block+"resource \"nosuchtype\" \"x\" {\n}\n")
				verdict := func(args ...string) string {
					r := nebula(t, nil, args...)
					mustExit(t, r, 1, strings.Join(args, " "))
					out := r.stdout + r.stderr
					switch {
					case strings.Contains(out, "Unknown resource type"):
						return "accepted"
					case strings.Contains(out, "address"):
						return "refused"
					}
					t.Fatalf("%s: neither accepted nor refused the address\n%s", strings.Join(args, " "), r)
					return ""
				}
				v := verdict(append(append([]string{"validate"}, flag...), path)...)
				r := verdict(append(append([]string{"run"}, flag...), "-config", path)...)
				if v != r {
					t.Errorf("validate %s %q, run %s it", v, tt.addr, r)
				}
				if tt.want != "" && v != tt.want {
					t.Errorf("validate %s %q, want %s", v, tt.addr, tt.want)
				}
			})
		}
	}
}
