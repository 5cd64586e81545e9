package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/faults"
)

// TestEveryCommandThatStartsAHangingPluginReturnsInTime runs validate,
// plugins list, describe and run against plugins whose children keep their
// stdout open: each command must fail within the plugin's start timeout,
// naming the plugin, its path and what happened, and leave no process of
// the plugin's group behind.
func TestEveryCommandThatStartsAHangingPluginReturnsInTime(t *testing.T) {
	t.Parallel()
	scripts := map[string]struct {
		body, want string
	}{
		"handshake then sleep": {"echo \"1|1|unix|$DIR/no-socket|grpc|\"\nsleep 400\n", "printed its handshake, but the host could not talk to it"},
		"background and exit":  {"sleep 400 &\nexit 0\n", "exited (exit status 0) before printing the go-plugin handshake line"},
		"wrong handshake":      {"sleep 400 &\necho nonsense\nsleep 400\n", `printed "nonsense" on stdout where the go-plugin handshake line was expected`},
		"silent":               {"sleep 400\n", "did not print the go-plugin handshake line on stdout within 2s (start_timeout)"},
	}
	commands := map[string]func(cfg string) []string{
		"validate":     func(cfg string) []string { return []string{"validate", cfg} },
		"plugins list": func(cfg string) []string { return []string{"plugins", "list", "-config", cfg} },
		"describe":     func(cfg string) []string { return []string{"describe", "-config", cfg, "memory"} },
		"run":          func(cfg string) []string { return []string{"run", "-config", cfg, "-admin", "127.0.0.1:0"} },
	}
	for sname, sc := range scripts {
		for cname, args := range commands {
			t.Run(sname+"/"+cname, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				pidFile := filepath.Join(dir, "pid")
				plugin := writeFile(t, dir, "nebula-plugin-hang", "#!/bin/sh\nDIR="+dir+"\necho $$ > "+pidFile+"\n"+sc.body)
				if err := os.Chmod(plugin, 0o755); err != nil {
					t.Fatal(err)
				}
				cfg := writeFile(t, dir, "main.hcl", fmt.Sprintf(`
plugin "hang" {
  path          = %q
  start_timeout = "2s"
}
resource "memory" "m" {}
`, plugin))
				began := time.Now()
				r := nebula(t, nil, args(cfg)...)
				took := time.Since(began)
				if r.code == 0 {
					t.Fatalf("%s succeeded:\n%s", cname, r)
				}
				if took > 6*time.Second {
					t.Errorf("%s took %v, want about the start timeout 2s", cname, took)
				}
				for _, w := range []string{`plugin "hang"`, plugin, sc.want} {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("%s: stderr does not say %q:\n%s", cname, w, r)
					}
				}
				b, err := os.ReadFile(pidFile)
				if err != nil {
					t.Fatalf("the plugin never ran: %v", err)
				}
				pgid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				deadline := time.Now().Add(time.Second)
				for len(faults.GroupMembers(pgid)) > 0 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if left := faults.GroupMembers(pgid); len(left) > 0 {
					t.Errorf("processes %v of the plugin's group are still running", left)
				}
			})
		}
	}
}

// TestPluginsListSaysWhatIsNotAPlugin: a directory named like a plugin in
// the plugin directory is skipped with a word saying what it is.
func TestPluginsListSaysWhatIsNotAPlugin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "nebula-plugin-ghost"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := nebula(t, nil, "plugins", "list", "-plugin-dir", dir)
	mustExit(t, r, 0, "plugins list")
	if !strings.Contains(r.stderr, filepath.Join(dir, "nebula-plugin-ghost")+" is a directory, not a plugin binary") {
		t.Errorf("plugins list does not say the directory is none:\n%s", r)
	}
	if strings.Contains(r.stdout, "ghost") || !strings.Contains(r.stdout, "memory") {
		t.Errorf("plugins list:\n%s", r)
	}
}

// TestARelativePluginDirWorks: plugins found in -plugin-dir . (bare names)
// or a relative directory run from there, not from $PATH.
func TestARelativePluginDirWorks(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ cwd, dir string }{
		{filepath.Join(binDir, "plugins"), "."},
		{binDir, "plugins"},
	} {
		for _, args := range [][]string{
			{"plugins", "list", "-plugin-dir", tt.dir},
			{"describe", "-plugin-dir", tt.dir, "memory"},
		} {
			cmd := exec.Command(hostBinary(), args...)
			cmd.Dir = tt.cwd
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "memory") || strings.Contains(string(out), "not a plugin") {
				t.Errorf("in %s, nebula-host %s: %v\n%s", tt.cwd, strings.Join(args, " "), err, out)
			}
		}
	}
}
