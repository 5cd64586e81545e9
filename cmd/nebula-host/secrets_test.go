package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretCanary is the secret in every file of config/testdata/secrets.
const secretCanary = "hunter2-Kq9"

// TestSecretsNeverPrinted runs the real binary with the real plugins on
// every configuration of the corpus in config/testdata/secrets (each
// misuses a secret: bad port, bad escape, unclosed quote, wrong type,
// misspelt names, heredocs, variable defaults...) through validate,
// validate -json and run, and checks that each fails without printing the
// secret or part of it.
func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	corpus, err := filepath.Glob(filepath.Join(moduleRoot, "config", "testdata", "secrets", "*.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(corpus) < 20 {
		t.Fatalf("want at least 20 files in the corpus, found %d", len(corpus))
	}
	env := []string{"NEBULA_VAR_token=" + secretCanary}
	for _, src := range corpus {
		name := strings.TrimSuffix(filepath.Base(src), ".hcl")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			path := writeFile(t, t.TempDir(), "main.hcl", string(data))
			for _, args := range [][]string{
				{"validate", path},
				{"validate", "-json", path},
				{"run", "-admin", "127.0.0.1:0", "-config", path},
			} {
				r := nebula(t, env, args...)
				what := strings.Join(args[:len(args)-1], " ")
				mustExit(t, r, 1, what)
				for _, leak := range []string{secretCanary, "hunter2", "Kq9"} {
					if strings.Contains(r.stdout+r.stderr, leak) {
						t.Errorf("%s printed %q\n%s", what, leak, r)
					}
				}
				if args[1] == "-json" && !strings.Contains(r.stdout, `"valid": false`) {
					t.Errorf("%s: no JSON verdict\n%s", what, r)
				}
			}
		})
	}
}
