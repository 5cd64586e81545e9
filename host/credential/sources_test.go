package credential_test

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host/credential"
)

func TestEnvSourceReadsEachAttributeFromItsVariable(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PG_USER": "app", "PG_PASSWORD": "s3cret", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	s := newStore(t, []credential.Spec{{Name: "pg", Source: credential.SourceEnv, Vars: map[string]string{"user": "PG_USER", "password": "PG_PASSWORD", "note": "EMPTY"}}},
		credential.Options{LookupEnv: lookup, Logger: (&logBuffer{}).logger()})
	if st := status(t, s, "pg"); st.State != credential.StatePending {
		t.Errorf("State before Start = %q, want %q", st.State, credential.StatePending)
	}
	if _, err := s.Get("pg"); !errors.Is(err, credential.ErrNotStarted) {
		t.Errorf("Get before Start: %v, want ErrNotStarted", err)
	}
	start(t, s)
	v := get(t, s, "pg")
	want := map[string]string{"user": "app", "password": "s3cret", "note": ""}
	if !maps.Equal(v.Attrs, want) || v.Version != 1 || !v.Expires.IsZero() || v.FetchedAt.IsZero() {
		t.Errorf("Get = %+v, want attrs %v, version 1, no expiry, a fetch time", v, want)
	}
	v.Attrs["user"] = "changed by the caller"
	if again := get(t, s, "pg"); again.Attrs["user"] != "app" {
		t.Errorf("changing the Attrs Get returned changed the store's value")
	}
	if st := status(t, s, "pg"); st.State != credential.StateOK || st.Version != 1 || st.Source != credential.SourceEnv {
		t.Errorf("Status = %+v, want ok, version 1, source env", st)
	}
}

func TestEnvSourceMissingVariablesAreNamed(t *testing.T) {
	t.Parallel()
	lookup := func(k string) (string, bool) { return "a-value", k == "SET" }
	s, err := credential.New([]credential.Spec{{Name: "api", Source: credential.SourceEnv, Vars: map[string]string{"a": "SET", "b": "MISSING_B", "c": "MISSING_C"}}},
		credential.Options{LookupEnv: lookup, Logger: (&logBuffer{}).logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Start(t.Context())
	var fe *credential.FetchError
	if !errors.As(err, &fe) || fe.Name != "api" {
		t.Fatalf("Start: %v, want a *FetchError for api", err)
	}
	for _, want := range []string{`"api"`, "MISSING_B, MISSING_C", "not set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "a-value") {
		t.Errorf("error %q holds a value", err)
	}
	if st := status(t, s, "api"); st.State != credential.StatePending || st.LastError == "" || st.Failures != 1 {
		t.Errorf("Status after a failed Start = %+v, want pending with its error", st)
	}
	if _, err := s.Refresh(t.Context(), "api", 0); !errors.Is(err, credential.ErrClosed) {
		t.Errorf("Refresh after a failed Start: %v, want ErrClosed", err)
	}
}

func TestFileSourceJSONTakesAWSCredentialProcessOutput(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "aws.json")
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	writeFile(t, path, `{"Version": 1, "AccessKeyId": "AKIA", "SecretAccessKey": "sk", "SessionToken": "st", "Expiration": "`+exp.Format(time.RFC3339)+`"}`)
	s := newStore(t, []credential.Spec{{Name: "aws", Source: credential.SourceFile, Path: path}}, credential.Options{Logger: (&logBuffer{}).logger()})
	start(t, s)
	v := get(t, s, "aws")
	want := map[string]string{"AccessKeyId": "AKIA", "SecretAccessKey": "sk", "SessionToken": "st"}
	if !maps.Equal(v.Attrs, want) || !v.Expires.Equal(exp) || v.Version != 1 {
		t.Errorf("Get = %+v, want attrs %v expiring at %v", v, want, exp)
	}
}

func TestFileSourceTextIsOneAttributeWithoutTrailingNewlines(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, "line one\nline two\r\n\n")
	s := newStore(t, []credential.Spec{{Name: "tok", Source: credential.SourceFile, Path: path, Format: credential.FormatText}}, credential.Options{Logger: (&logBuffer{}).logger()})
	start(t, s)
	if v := get(t, s, "tok"); !maps.Equal(v.Attrs, map[string]string{"value": "line one\nline two"}) {
		t.Errorf("Attrs = %q", v.Attrs)
	}
}

func TestFileSourceRefusesBadContentWithoutQuotingIt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, format, content string
		want                  []string
	}{
		{"syntax error", "", `{"password": "HIDDEN" oops}`, []string{"not valid JSON", "byte offset 23"}},
		{"trailing data", "", `{"password": "HIDDEN"} HIDDEN`, []string{"not valid JSON", "byte offset"}},
		{"not an object", "", `["HIDDEN"]`, []string{"JSON array", "must be a JSON object"}},
		{"number attribute", "", `{"password": "HIDDEN", "port": 5432}`, []string{`key "port"`, "JSON number"}},
		{"object attribute", "", `{"password": "HIDDEN", "nested": {"a": "HIDDEN"}}`, []string{`key "nested"`, "JSON object"}},
		{"version not a number", "", `{"password": "HIDDEN", "version": true}`, []string{`key "version"`, "JSON boolean"}},
		{"expiration not a time", "", `{"password": "HIDDEN", "expiration": "HIDDEN"}`, []string{`key "expiration"`, "RFC 3339"}},
		{"expiration not a string", "", `{"password": "HIDDEN", "Expiration": 12}`, []string{`key "Expiration"`, "JSON number"}},
		{"two expirations", "", `{"password": "HIDDEN", "expiration": "2099-01-01T00:00:00Z", "Expiration": "2099-01-01T00:00:00Z"}`, []string{`"Expiration" and "expiration"`}},
		{"expired", "", `{"password": "HIDDEN", "expiration": "2001-01-01T00:00:00Z"}`, []string{"2001-01-01T00:00:00Z", "already passed"}},
		{"no attribute", "", `{"version": 1}`, []string{"no string attribute"}},
		{"empty json", "", "\n", []string{"is empty"}},
		{"empty text", "text", "\n\n", []string{"is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "cred")
			writeFile(t, path, tc.content)
			s, err := credential.New([]credential.Spec{{Name: "bad", Source: credential.SourceFile, Path: path, Format: tc.format}}, credential.Options{Logger: (&logBuffer{}).logger()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Start(t.Context())
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, want := range append(tc.want, `"bad"`) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if tc.name != "expired" && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), "HIDDEN") || strings.Contains(err.Error(), "oops") {
				t.Errorf("error %q quotes the file's content", err)
			}
		})
	}
}

func TestFileSourceMissingFileFailsStart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "absent.json")
	s := newStore(t, []credential.Spec{{Name: "pg", Source: credential.SourceFile, Path: path}}, credential.Options{Logger: (&logBuffer{}).logger()})
	err := s.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), path+" does not exist") {
		t.Errorf("Start: %v, want the file named as missing", err)
	}
}

func TestExecSourceRunsTheCommand(t *testing.T) {
	// Not parallel: the script is executed itself, which a fork by a
	// parallel test while it is being written would make fail with
	// ETXTBSY.
	path, dir := script(t, `run; printf '{"user": "app", "password": "pw-%s", "arg": "%s"}' "$n" "$1"`)
	s := newStore(t, []credential.Spec{
		{Name: "direct", Source: credential.SourceExec, Command: []string{path, "first-arg"}, Dir: dir, Timeout: 10 * time.Second},
		{Name: "in_path", Source: credential.SourceExec, Command: []string{"sh", "-c", `printf '{"token": "%s"}' "$(pwd)"`}, Dir: dir},
	}, credential.Options{Logger: (&logBuffer{}).logger()})
	start(t, s)
	if v := get(t, s, "direct"); !maps.Equal(v.Attrs, map[string]string{"user": "app", "password": "pw-1", "arg": "first-arg"}) || !v.Expires.IsZero() {
		t.Errorf("direct: %+v", v)
	}
	if v := get(t, s, "in_path"); v.Attrs["token"] != dir {
		t.Errorf("in_path: token %q, want the working directory %q", v.Attrs["token"], dir)
	}
	// Without an expiration the command runs once.
	time.Sleep(300 * time.Millisecond)
	if n := runs(t, dir); n != 1 {
		t.Errorf("the command ran %d times, want 1", n)
	}
}

func TestExecSourceFailuresNameCommandAndExitStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		timeout    time.Duration
		want       []string
	}{
		{"exit status", "echo 'first line' >&2; echo 'login refused: bad role' >&2; echo >&2; exit 3",
			0, []string{"exit status 3", `stderr: "login refused: bad role"`}},
		{"bad output", `printf '{"password": "HIDDEN"'; echo 'printed half' >&2`,
			0, []string{"exit status 0", "not valid JSON", "byte offset", `stderr: "printed half"`}},
		{"too much output", `printf '{"password": "'; head -c 1100000 /dev/zero | tr '\0' 'x'; printf '"}'`,
			0, []string{"exit status 0", "more than 1 MiB"}},
		{"timeout", "echo 'waiting' >&2; sleep 30", time.Second, []string{"did not finish within 1s", "killed", `stderr: "waiting"`}},
		{"long stderr line", "printf '%0300d\\n' 7 >&2; exit 1", 0, []string{"exit status 1", strings.Repeat("0", 200) + "…"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path, _ := script(t, tc.body)
			sp := shSpec("cmd", path)
			sp.Timeout = tc.timeout
			s := newStore(t, []credential.Spec{sp}, credential.Options{Logger: (&logBuffer{}).logger()})
			began := time.Now()
			err := s.Start(t.Context())
			if err == nil {
				t.Fatal("Start succeeded")
			}
			if took := time.Since(began); took > 3*time.Second {
				t.Errorf("Start took %v", took)
			}
			for _, want := range append(tc.want, `"cmd"`, "/bin/sh") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "HIDDEN") || strings.Contains(err.Error(), "xxxx") || strings.Contains(err.Error(), strings.Repeat("0", 201)) {
				t.Errorf("error %q quotes the output or too much of stderr", err)
			}
		})
	}
}

func TestNewRefusesBadSpecsNamingCredentialAndField(t *testing.T) {
	t.Parallel()
	abs := filepath.Join(t.TempDir(), "x.json")
	for _, tc := range []struct {
		name  string
		specs []credential.Spec
		field string
		want  string
	}{
		{"no name", []credential.Spec{{Source: credential.SourceEnv, Vars: map[string]string{"a": "A"}}}, "", "needs a label"},
		{"no source", []credential.Spec{{Name: "c"}}, "source", "required"},
		{"unknown source", []credential.Spec{{Name: "c", Source: "vault"}}, "source", `"vault" is not a source`},
		{"env without variables", []credential.Spec{{Name: "c", Source: credential.SourceEnv}}, "variables", "required"},
		{"env with an empty variable name", []credential.Spec{{Name: "c", Source: credential.SourceEnv, Vars: map[string]string{"a": ""}}}, "variables", `attribute "a"`},
		{"env with a path", []credential.Spec{{Name: "c", Source: credential.SourceEnv, Vars: map[string]string{"a": "A"}, Path: abs}}, "path", "not used by source"},
		{"env with refresh_before", []credential.Spec{{Name: "c", Source: credential.SourceEnv, Vars: map[string]string{"a": "A"}, RefreshBefore: time.Second}}, "refresh_before", "not used by source"},
		{"file without path", []credential.Spec{{Name: "c", Source: credential.SourceFile}}, "path", "required"},
		{"file with relative path", []credential.Spec{{Name: "c", Source: credential.SourceFile, Path: "secrets/pg.json"}}, "path", "not an absolute path"},
		{"file with unknown format", []credential.Spec{{Name: "c", Source: credential.SourceFile, Path: abs, Format: "yaml"}}, "format", `"yaml" is not a format`},
		{"file with negative poll interval", []credential.Spec{{Name: "c", Source: credential.SourceFile, Path: abs, PollInterval: -time.Second}}, "poll_interval", "at least 10ms"},
		{"file with tiny poll interval", []credential.Spec{{Name: "c", Source: credential.SourceFile, Path: abs, PollInterval: time.Millisecond}}, "poll_interval", "at least 10ms"},
		{"file with a command", []credential.Spec{{Name: "c", Source: credential.SourceFile, Path: abs, Command: []string{"/bin/true"}}}, "command", "not used by source"},
		{"exec without command", []credential.Spec{{Name: "c", Source: credential.SourceExec}}, "command", "required"},
		{"exec with relative command", []credential.Spec{{Name: "c", Source: credential.SourceExec, Command: []string{"bin/pgcred"}}}, "command", "absolute path or a bare name"},
		{"exec command not in PATH", []credential.Spec{{Name: "c", Source: credential.SourceExec, Command: []string{"no-such-command-7f3a"}}}, "command", "not found in PATH"},
		{"exec with negative timeout", []credential.Spec{{Name: "c", Source: credential.SourceExec, Command: []string{"/bin/true"}, Timeout: -1}}, "timeout", "negative"},
		{"exec with negative refresh_before", []credential.Spec{{Name: "c", Source: credential.SourceExec, Command: []string{"/bin/true"}, RefreshBefore: -1}}, "refresh_before", "negative"},
		{"duplicate name", []credential.Spec{
			{Name: "c", Source: credential.SourceEnv, Vars: map[string]string{"a": "A"}},
			{Name: "c", Source: credential.SourceFile, Path: abs},
		}, "", "defined twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := credential.New(tc.specs, credential.Options{})
			if err == nil {
				s.Close()
				t.Fatal("New accepted the specs")
			}
			var se *credential.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("New: %v, want a *SpecError", err)
			}
			if se.Field != tc.field || se.Name != tc.specs[0].Name {
				t.Errorf("SpecError names credential %q field %q, want %q and %q", se.Name, se.Field, tc.specs[0].Name, tc.field)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `credential "`+tc.specs[0].Name+`"`) {
				t.Errorf("error %q does not name the credential or contain %q", err, tc.want)
			}
		})
	}
}

func TestNewReportsEveryBadSpec(t *testing.T) {
	t.Parallel()
	_, err := credential.New([]credential.Spec{
		{Name: "a", Source: credential.SourceFile},
		{Name: "b", Source: credential.SourceExec, Timeout: -1, Command: []string{"/bin/true"}},
	}, credential.Options{})
	if err == nil || !strings.Contains(err.Error(), `credential "a": path`) || !strings.Contains(err.Error(), `credential "b": timeout`) {
		t.Errorf("New: %v, want both credentials' faults", err)
	}
}

func TestLifecycleErrors(t *testing.T) {
	t.Parallel()
	lookup := func(string) (string, bool) { return "v", true }
	s, err := credential.New([]credential.Spec{{Name: "b", Source: credential.SourceEnv, Vars: map[string]string{"a": "A"}}, {Name: "a", Source: credential.SourceEnv, Vars: map[string]string{"a": "A"}}},
		credential.Options{LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Refresh(t.Context(), "a", 0); !errors.Is(err, credential.ErrNotStarted) {
		t.Errorf("Refresh before Start: %v, want ErrNotStarted", err)
	}
	start(t, s)
	if err := s.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Start: %v", err)
	}
	_, err = s.Get("nope")
	if !errors.Is(err, credential.ErrUnknown) || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "a, b") {
		t.Errorf("Get of an unknown name: %v", err)
	}
	if _, err := s.Refresh(t.Context(), "nope", 0); !errors.Is(err, credential.ErrUnknown) {
		t.Errorf("Refresh of an unknown name: %v", err)
	}
	if st := s.Status(); len(st) != 2 || st[0].Name != "a" || st[1].Name != "b" {
		t.Errorf("Status is not sorted by name: %+v", st)
	}
	s.Close()
	s.Close()
	if _, err := s.Refresh(t.Context(), "a", 1); !errors.Is(err, credential.ErrClosed) {
		t.Errorf("Refresh after Close: %v, want ErrClosed", err)
	}
	if err := s.Start(t.Context()); !errors.Is(err, credential.ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Get("a"); err != nil {
		t.Errorf("Get after Close: %v, want the last value", err)
	}
}

func TestScriptHelpersWork(t *testing.T) {
	// Guards the other tests' assumptions about the shell: exp prints a
	// time that parses and lies ahead.
	t.Parallel()
	path, dir := script(t, `run; exp 2 > "$dir/out"`)
	if err := runShell(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339, strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("exp printed %q: %v", b, err)
	}
	if d := time.Until(at); d <= 0 || d > 2*time.Second {
		t.Errorf("exp 2 is %v ahead", d)
	}
	if runs(t, dir) != 1 {
		t.Errorf("run did not count")
	}
}
