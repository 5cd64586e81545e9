package credential_test

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host/credential"
)

// canary marks every value of TestNoValueInErrorsStatusOrLogs; nothing
// but a value holds it.
const canary = "CANARY"

// secretBook records what Options.Secret was given, and what the store
// showed before it was.
type secretBook struct {
	store atomic.Pointer[credential.Store]

	mu         sync.Mutex
	given      map[string]bool
	violations []string
}

// secret is Options.Secret: no credential may show a value it is given
// for the first time.
func (b *secretBook) secret(values ...string) {
	s := b.store.Load()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, v := range values {
		if s != nil && !b.given[v] {
			for _, st := range s.Status() {
				if cur, err := s.Get(st.Name); err == nil && slices.Contains(slices.Collect(maps.Values(cur.Attrs)), v) {
					b.violations = append(b.violations, fmt.Sprintf("credential %s showed a value before Secret was given it", st.Name))
				}
			}
		}
		if b.given == nil {
			b.given = make(map[string]bool)
		}
		b.given[v] = true
	}
}

// onChange is Options.OnChange: every value shown must have been given to
// Secret.
func (b *secretBook) onChange(name string) {
	v, err := b.store.Load().Get(name)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, val := range v.Attrs {
		if err == nil && !b.given[val] {
			b.violations = append(b.violations, fmt.Sprintf("credential %s changed to a value Secret was not given", name))
		}
	}
}

func (b *secretBook) has(v string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.given[v]
}

func TestNoValueInErrorsStatusOrLogs(t *testing.T) {
	t.Parallel()
	const (
		envValue   = canary + "-env-91f2"
		fileValue  = canary + "-file-5a7c"
		execValue  = canary + "-exec-3d0b"
		multiLine  = canary + "-line-one\n" + canary + "-line-two"
		execValue2 = canary + "-exec-77aa"
	)
	var envMu sync.Mutex
	env := map[string]string{"APP_TOKEN": envValue}
	lookup := func(k string) (string, bool) {
		envMu.Lock()
		defer envMu.Unlock()
		v, ok := env[k]
		return v, ok
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "app.json")
	writeFile(t, file, jsonAttrs("password", fileValue))
	// Run 1 gives two values; the failing runs echo them to stderr in
	// various ways, or print new ones in bad output.
	body := strings.NewReplacer("ONE", execValue, "TWO_JSON", strings.ReplaceAll(multiLine, "\n", `\\n`), "TWO_LINE", canary+"-line-two", "NEW", execValue2).Replace(`run
case "$n" in
1) printf '{"password": "ONE", "key": "TWO_JSON"}'; exit 0;;
2) echo "auth failed for ONE" >&2; printf '{"password": "ONE"'; exit 0;;
3) echo "ONE" >&2; exit 4;;
4) echo "new is NEW" >&2; printf '{"password": "NEW", "n": 1}'; exit 0;;
5) echo "line two: TWO_LINE" >&2; exit 1;;
6) echo "ONE" >&2; sleep 30;;
*) printf '{"password": "ONE-%s", "key": "TWO_JSON"}' "$n"; exit 0;;
esac
`)
	path, _ := script(t, body)
	logs := &logBuffer{}
	var book secretBook
	exec := shSpec("api_exec", path)
	exec.Timeout = 1500 * time.Millisecond
	s, err := credential.New([]credential.Spec{
		{Name: "api_env", Source: credential.SourceEnv, Vars: map[string]string{"token": "APP_TOKEN"}},
		{Name: "api_file", Source: credential.SourceFile, Path: file, PollInterval: 20 * time.Millisecond},
		exec,
	}, credential.Options{Logger: logs.logger(), LookupEnv: lookup, Secret: book.secret, OnChange: book.onChange})
	if err != nil {
		t.Fatal(err)
	}
	book.store.Store(s)
	defer s.Close()
	start(t, s)
	for _, v := range []string{envValue, fileValue, execValue, multiLine} {
		if !book.has(v) {
			t.Errorf("Secret was not given the value %q", v)
		}
	}

	var errs []error
	keep := func(err error) {
		t.Helper()
		if err == nil {
			t.Error("the fetch succeeded, want it to fail")
			return
		}
		errs = append(errs, err)
	}

	// env: the variable goes away.
	envMu.Lock()
	delete(env, "APP_TOKEN")
	envMu.Unlock()
	_, err = s.Refresh(t.Context(), "api_env", 1)
	keep(err)

	// file: bad syntax, then a value that is not a string, then a good
	// new value.
	for i, content := range []string{
		`{"password": "` + canary + `-file-new" oops`,
		`{"password": "` + canary + `-file-new", "n": ["` + canary + `"]}`,
	} {
		replaceFile(t, file, content)
		waitFor(t, 2*time.Second, "the file's fault", func() bool { return status(t, s, "api_file").Failures == uint64(i+1) })
	}
	replaceFile(t, file, jsonAttrs("password", canary+"-file-3"))
	waitFor(t, 2*time.Second, "the file's new value", func() bool { return status(t, s, "api_file").Version == 2 })
	if !book.has(canary + "-file-3") {
		t.Error("Secret was not given the file's new value")
	}

	// exec: runs 2 to 6 fail; run 7 succeeds.
	for range 5 {
		_, err := s.Refresh(t.Context(), "api_exec", 1)
		keep(err)
	}
	v, err := s.Refresh(t.Context(), "api_exec", 1)
	if err != nil || v.Version != 2 {
		t.Fatalf("run 7: %+v, %v", v, err)
	}
	if !book.has(execValue + "-7") {
		t.Error("Secret was not given the command's new value")
	}
	_, err = s.Refresh(t.Context(), "nope", 0)
	keep(err)

	var texts []string
	for _, err := range errs {
		texts = append(texts, err.Error())
	}
	for _, st := range s.Status() {
		texts = append(texts, fmt.Sprintf("%+v", st))
	}
	texts = append(texts, logs.String())
	for _, text := range texts {
		if strings.Contains(text, canary) {
			t.Errorf("a value shows in %q", text)
		}
	}
	// The failures said something useful all the same.
	all := strings.Join(texts, "\n")
	for _, want := range []string{
		"APP_TOKEN is not set",
		"byte offset",
		"holding a JSON array",
		`stderr: "auth failed for (secret)"`,
		`exit status 4; stderr: "(secret)"`,
		`stderr: "new is (secret)"`,
		`stderr: "line two: (secret)"`,
		"did not finish within 1.5s",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no failure says %q:\n%s", want, all)
		}
	}
	book.mu.Lock()
	defer book.mu.Unlock()
	for _, v := range book.violations {
		t.Error(v)
	}
}
