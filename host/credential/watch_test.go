//go:build unix

package credential_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host/credential"
)

// fileLayout is a way a file credential is rotated.
type fileLayout struct {
	name string
	// setup writes the first content and returns the path to watch.
	setup func(t *testing.T, dir, content string) string
	// rotate replaces the content.
	rotate func(t *testing.T, dir, content string)
}

var fileLayouts = []fileLayout{
	{
		name: "written in place",
		setup: func(t *testing.T, dir, content string) string {
			p := filepath.Join(dir, "pg.json")
			writeFile(t, p, content)
			return p
		},
		rotate: func(t *testing.T, dir, content string) { writeFile(t, filepath.Join(dir, "pg.json"), content) },
	},
	{
		name: "renamed over",
		setup: func(t *testing.T, dir, content string) string {
			p := filepath.Join(dir, "pg.json")
			writeFile(t, p, content)
			return p
		},
		rotate: func(t *testing.T, dir, content string) {
			tmp := filepath.Join(dir, ".pg.json.tmp")
			writeFile(t, tmp, content)
			if err := os.Rename(tmp, filepath.Join(dir, "pg.json")); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		// As Kubernetes projects a secret: dir/pg.json -> ..data/pg.json,
		// dir/..data -> a directory per version, swapped by a rename.
		name: "kubernetes symlink swap",
		setup: func(t *testing.T, dir, content string) string {
			k8sVersion(t, dir, content)
			if err := os.Symlink(filepath.Join("..data", "pg.json"), filepath.Join(dir, "pg.json")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "pg.json")
		},
		rotate: k8sVersion,
	},
}

// k8sVersion writes a new version directory holding pg.json and points
// dir/..data at it, as the kubelet does.
func k8sVersion(t *testing.T, dir, content string) {
	t.Helper()
	ts, err := os.MkdirTemp(dir, "..ts")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ts, "pg.json"), content)
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func TestFileChangesArePickedUpWithinASecond(t *testing.T) {
	t.Parallel()
	for _, l := range fileLayouts {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := l.setup(t, dir, jsonAttrs("user", "app", "password", "one"))
			var ch changes
			logs := &logBuffer{}
			s := newStore(t, []credential.Spec{{Name: "pg", Source: credential.SourceFile, Path: path}}, credential.Options{OnChange: ch.record, Logger: logs.logger()})
			start(t, s)
			if v := get(t, s, "pg"); v.Attrs["password"] != "one" || v.Version != 1 {
				t.Fatalf("first value %+v", v)
			}

			for i, pw := range []string{"two", "three"} {
				l.rotate(t, dir, jsonAttrs("user", "app", "password", pw))
				changed := time.Now()
				waitFor(t, 2*time.Second, "the new password", func() bool { return get(t, s, "pg").Attrs["password"] == pw })
				if took := time.Since(changed); took > time.Second {
					t.Errorf("the change took %v to be seen, want under a second", took)
				}
				if v := get(t, s, "pg"); v.Version != uint64(i+2) {
					t.Errorf("Version = %d after %d changes", v.Version, i+1)
				}
				waitFor(t, time.Second, "OnChange", func() bool { return ch.count("pg") == i+1 })
			}

			// The same content again is read (Refreshes grows) but changes
			// nothing.
			before := status(t, s, "pg").Refreshes
			time.Sleep(20 * time.Millisecond) // a new modification time for in-place writes
			l.rotate(t, dir, jsonAttrs("user", "app", "password", "three"))
			waitFor(t, 2*time.Second, "the rewrite to be read", func() bool { return status(t, s, "pg").Refreshes > before })
			time.Sleep(300 * time.Millisecond)
			if n := ch.count("pg"); n != 2 {
				t.Errorf("OnChange called %d times, want 2 (none for the identical rewrite)", n)
			}
			if st := status(t, s, "pg"); st.Version != 3 || st.State != credential.StateOK {
				t.Errorf("Status after the identical rewrite = %+v, want version 3, ok", st)
			}
			if n := logs.count("credential changed"); n != 2 {
				t.Errorf("logged %d changes, want 2:\n%s", n, logs)
			}
		})
	}
}

func TestFileMissingOrInvalidKeepsLastValueAndWarnsOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "pg.json")
	writeFile(t, path, jsonAttrs("password", "good"))
	logs := &logBuffer{}
	var ch changes
	s := newStore(t, []credential.Spec{{Name: "pg", Source: credential.SourceFile, Path: path, PollInterval: 20 * time.Millisecond}},
		credential.Options{Logger: logs.logger(), OnChange: ch.record})
	start(t, s)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "stale after the removal", func() bool { return status(t, s, "pg").State == credential.StateStale })
	time.Sleep(200 * time.Millisecond) // ten polls
	st := status(t, s, "pg")
	if !strings.Contains(st.LastError, "does not exist") || st.Failures != 1 {
		t.Errorf("Status while missing = %+v, want one failure saying the file does not exist", st)
	}
	if v := get(t, s, "pg"); v.Attrs["password"] != "good" {
		t.Errorf("Get while missing = %+v, want the last good value", v)
	}
	if n := logs.count("credential refresh failed"); n != 1 {
		t.Errorf("%d warnings while the file was missing, want 1:\n%s", n, logs)
	}

	replaceFile(t, path, `{"password": `)
	waitFor(t, time.Second, "the syntax error", func() bool { return strings.Contains(status(t, s, "pg").LastError, "not valid JSON") })
	time.Sleep(200 * time.Millisecond)
	if n := logs.count("credential refresh failed"); n != 2 {
		t.Errorf("%d warnings after a second distinct fault, want 2:\n%s", n, logs)
	}
	if st := status(t, s, "pg"); st.State != credential.StateStale || st.Failures != 2 {
		t.Errorf("Status while invalid = %+v", st)
	}

	replaceFile(t, path, jsonAttrs("password", "better"))
	waitFor(t, time.Second, "the new value", func() bool { return get(t, s, "pg").Attrs["password"] == "better" })
	if st := status(t, s, "pg"); st.State != credential.StateOK || st.LastError != "" || st.Version != 2 {
		t.Errorf("Status after recovery = %+v", st)
	}
	waitFor(t, time.Second, "OnChange", func() bool { return ch.count("pg") == 1 })
	if !strings.Contains(logs.String(), "credential refreshed after failures") {
		t.Errorf("no notice of the recovery:\n%s", logs)
	}
}

func TestFileValueExpiresWhenNotRewritten(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pg.json")
	exp := time.Now().Add(time.Second).UTC().Truncate(time.Second).Add(time.Second)
	writeFile(t, path, `{"password": "pw", "expiration": "`+exp.Format(time.RFC3339)+`"}`)
	s := newStore(t, []credential.Spec{{Name: "pg", Source: credential.SourceFile, Path: path, PollInterval: time.Hour}}, credential.Options{Logger: (&logBuffer{}).logger()})
	start(t, s)
	get(t, s, "pg")
	time.Sleep(time.Until(exp) + 10*time.Millisecond)
	_, err := s.Get("pg")
	var ee *credential.ExpiredError
	if !errors.As(err, &ee) || !errors.Is(err, credential.ErrExpired) || !ee.Expired.Equal(exp) || ee.LastError != "" {
		t.Fatalf("Get after the expiry: %v, want an ExpiredError at %v", err, exp)
	}
	if !strings.Contains(err.Error(), exp.Format(time.RFC3339)) {
		t.Errorf("error %q does not say when the value expired", err)
	}
	if st := status(t, s, "pg"); st.State != credential.StateExpired {
		t.Errorf("State = %q, want expired", st.State)
	}
	// Refresh fetches although its caller saw an older version: the
	// current one has expired.
	replaceFile(t, path, `{"password": "pw2", "expiration": "`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)
	if v, err := s.Refresh(t.Context(), "pg", 0); err != nil || v.Attrs["password"] != "pw2" || v.Version != 2 {
		t.Errorf("Refresh after the expiry: %+v, %v; want the new value", v, err)
	}
	if st := status(t, s, "pg"); st.State != credential.StateOK {
		t.Errorf("State after the refresh = %q, want ok", st.State)
	}
}

func TestFileWithAnExpiryIsReadAgainBeforeIt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pg.json")
	exp := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second)
	writeFile(t, path, `{"password": "pw", "expiration": "`+exp.Format(time.RFC3339)+`"}`)
	s := newStore(t, []credential.Spec{{Name: "pg", Source: credential.SourceFile, Path: path, RefreshBefore: 500 * time.Millisecond}},
		credential.Options{Logger: (&logBuffer{}).logger()})
	start(t, s)
	waitFor(t, time.Until(exp), "a read of the unchanged file before its expiry", func() bool { return status(t, s, "pg").Refreshes > 0 })
	if st := status(t, s, "pg"); st.Version != 1 || st.State != credential.StateOK || time.Until(exp) < 0 {
		t.Errorf("Status = %+v, want version 1, ok, before %v", st, exp)
	}
}

func TestExecRunsAgainBeforeExpiry(t *testing.T) {
	t.Parallel()
	// Each run states a value that lives two to three seconds (exp counts
	// whole seconds): a loaded machine running the race detector may take
	// a few hundred milliseconds to run the script.
	path, dir := script(t, `run; printf '{"token": "t%s", "expiration": "%s"}' "$n" "$(exp 3)"`)
	var ch changes
	s := newStore(t, []credential.Spec{shSpec("tok", path)}, credential.Options{OnChange: ch.record, Logger: (&logBuffer{}).logger()})
	start(t, s)
	prev := get(t, s, "tok")
	if prev.Expires.IsZero() {
		t.Fatalf("the first value has no expiry: %+v", prev)
	}
	end := time.Now().Add(5 * time.Second)
	changesSeen := 0
	for time.Now().Before(end) {
		v, err := s.Get("tok")
		if err != nil {
			t.Fatalf("Get: %v (the value was not refreshed before it expired)", err)
		}
		if v.Version != prev.Version {
			changesSeen++
			if !v.FetchedAt.Before(prev.Expires) {
				t.Errorf("version %d fetched at %v, not before version %d expired at %v", v.Version, v.FetchedAt, prev.Version, prev.Expires)
			}
			if v.Attrs["token"] != "t"+strconv.FormatUint(v.Version, 10) {
				t.Errorf("version %d has token %q", v.Version, v.Attrs["token"])
			}
			prev = v
		}
		time.Sleep(10 * time.Millisecond)
	}
	if changesSeen < 2 {
		t.Errorf("saw %d refreshes in 5s of values living at most 3s, want at least 2", changesSeen)
	}
	if n := runs(t, dir); n < 3 || n > 8 {
		t.Errorf("the command ran %d times in 5s, want 3 to 8", n)
	}
	if st := status(t, s, "tok"); st.State != credential.StateOK || st.Failures != 0 {
		t.Errorf("Status = %+v", st)
	}
	waitFor(t, time.Second, "an OnChange per refresh", func() bool { return ch.count("tok") >= changesSeen })
}

func TestExecFailedRefreshKeepsLastValueUntilItExpires(t *testing.T) {
	t.Parallel()
	path, dir := script(t, `run
if [ "$n" = 1 ]; then printf '{"token": "first", "expiration": "%s"}' "$(exp 2)"; exit 0; fi
echo "issuer refused: quota" >&2
exit 3
`)
	logs := &logBuffer{}
	s := newStore(t, []credential.Spec{shSpec("tok", path)}, credential.Options{Logger: logs.logger()})
	start(t, s)
	first := get(t, s, "tok")

	waitFor(t, 2*time.Second, "the first failed refresh", func() bool { return status(t, s, "tok").Failures > 0 })
	if now := time.Now(); now.Before(first.Expires.Add(-50 * time.Millisecond)) {
		st := status(t, s, "tok")
		if st.State != credential.StateStale {
			t.Errorf("State after a failed refresh = %q, want stale", st.State)
		}
		for _, want := range []string{"/bin/sh", "exit status 3", `stderr: "issuer refused: quota"`} {
			if !strings.Contains(st.LastError, want) {
				t.Errorf("LastError %q does not contain %q", st.LastError, want)
			}
		}
		if v, err := s.Get("tok"); err != nil || v.Attrs["token"] != "first" {
			t.Errorf("Get while stale = %+v, %v; want the last good value", v, err)
		}
	}

	time.Sleep(time.Until(first.Expires) + 10*time.Millisecond)
	_, err := s.Get("tok")
	var ee *credential.ExpiredError
	if !errors.As(err, &ee) || !errors.Is(err, credential.ErrExpired) {
		t.Fatalf("Get after the expiry: %v, want ErrExpired", err)
	}
	if !ee.Expired.Equal(first.Expires) || !strings.Contains(ee.LastError, "exit status 3") || !strings.Contains(err.Error(), "issuer refused") {
		t.Errorf("ExpiredError = %+v (%v)", ee, err)
	}
	// The failed refresh is retried, with backoff, and goes on being
	// after the expiry.
	waitFor(t, 2*time.Second, "a retry", func() bool { return status(t, s, "tok").Failures >= 2 })
	st := status(t, s, "tok")
	if st.State != credential.StateExpired {
		t.Errorf("Status after the expiry = %+v, want expired", st)
	}
	if n := runs(t, dir); uint64(n) != 1+st.Failures && uint64(n) != 2+st.Failures {
		t.Errorf("the command ran %d times for %d failures", n, st.Failures)
	}
	if !strings.Contains(logs.String(), "credential refresh failed") {
		t.Errorf("no warning logged:\n%s", logs)
	}
}

func TestCloseKillsARunningCommandPromptly(t *testing.T) {
	t.Parallel()
	// The first run gives a short-lived value; the refresh hangs in a
	// child of the shell, which a kill of the shell alone would leave
	// behind.
	const hang = `sleep 30 & echo $! > "$dir/child"; wait`
	t.Run("during a refresh", func(t *testing.T) {
		t.Parallel()
		path, dir := script(t, `run
if [ "$n" = 1 ]; then printf '{"token": "first", "expiration": "%s"}' "$(exp 2)"; exit 0; fi
`+hang+"\n")
		s := newStore(t, []credential.Spec{shSpec("tok", path)}, credential.Options{Logger: (&logBuffer{}).logger()})
		start(t, s)
		child := waitChild(t, dir)
		began := time.Now()
		s.Close()
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("Close took %v", took)
		}
		waitGone(t, child)
	})
	t.Run("during Start", func(t *testing.T) {
		t.Parallel()
		path, dir := script(t, hang+"\n")
		s := newStore(t, []credential.Spec{shSpec("tok", path)}, credential.Options{Logger: (&logBuffer{}).logger()})
		res := make(chan error, 1)
		go func() { res <- s.Start(t.Context()) }()
		child := waitChild(t, dir)
		began := time.Now()
		s.Close()
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("Close took %v", took)
		}
		err := <-res
		if err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("Start: %v, want it stopped by Close", err)
		}
		waitGone(t, child)
	})
	t.Run("when Start's context ends", func(t *testing.T) {
		t.Parallel()
		path, dir := script(t, hang+"\n")
		s := newStore(t, []credential.Spec{shSpec("tok", path)}, credential.Options{Logger: (&logBuffer{}).logger()})
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		began := time.Now()
		err := s.Start(ctx)
		if took := time.Since(began); took > 1500*time.Millisecond {
			t.Errorf("Start took %v", took)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "interrupted") {
			t.Errorf("Start: %v, want it interrupted by its context", err)
		}
		if st := status(t, s, "tok"); st.State != credential.StatePending {
			t.Errorf("State = %q, want pending", st.State)
		}
		// The command may have been killed before it started its child.
		if b, err := os.ReadFile(filepath.Join(dir, "child")); err == nil && strings.HasSuffix(string(b), "\n") {
			waitGone(t, waitChild(t, dir))
		}
	})
}

// waitChild waits for the script in dir to write its child's pid.
func waitChild(t *testing.T, dir string) int {
	t.Helper()
	var pid int
	waitFor(t, 3*time.Second, "the hanging child", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "child"))
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// waitGone waits for the process pid to be gone (or a zombie, which its
// new parent reaps in its own time).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	waitFor(t, 2*time.Second, fmt.Sprintf("process %d to be killed", pid), func() bool {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return os.IsNotExist(err)
		}
		// The state follows the command name in parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
	})
}
