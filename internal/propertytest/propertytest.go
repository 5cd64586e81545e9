// Package propertytest checks that a property test can fail: it runs a
// rapid property against a deliberately broken copy of the code under
// test, within the same budget as the real test, and reports whether the
// property caught it.
package propertytest

import (
	"flag"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// Caught runs rapid.Check(prop) without failing t and returns the
// failure report, the seed that replays it (as "-rapid.seed=N"), and
// whether the property failed. It writes no fail file: the failure is
// expected.
func Caught(t *testing.T, prop func(*rapid.T)) (report, seed string, caught bool) {
	t.Helper()
	if nofail := flag.Lookup("rapid.nofailfile"); nofail != nil {
		old := nofail.Value.String()
		if err := nofail.Value.Set("true"); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = nofail.Value.Set(old) }()
	}
	f := &failureTB{T: t}
	done := make(chan struct{})
	go func() { // FailNow ends this goroutine, not the test's
		defer close(done)
		rapid.Check(f, prop)
	}()
	<-done
	report = f.text()
	seed = "unknown seed"
	if i := strings.Index(report, "-rapid.seed="); i >= 0 {
		seed = strings.TrimRight(strings.Fields(report[i:])[0], ")")
	}
	return report, seed, f.Failed()
}

// failureTB records failures and logs instead of failing the test.
type failureTB struct {
	*testing.T
	mu     sync.Mutex
	failed bool
	report strings.Builder
}

func (f *failureTB) Fail() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
}

func (f *failureTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *failureTB) FailNow()                          { f.Fail(); runtime.Goexit() }
func (f *failureTB) Error(args ...any)                 { f.record(fmt.Sprint(args...)); f.Fail() }
func (f *failureTB) Errorf(format string, args ...any) { f.Error(fmt.Sprintf(format, args...)) }
func (f *failureTB) Fatal(args ...any)                 { f.Error(args...); f.FailNow() }
func (f *failureTB) Fatalf(format string, args ...any) { f.Errorf(format, args...); f.FailNow() }
func (f *failureTB) Log(args ...any)                   { f.record(fmt.Sprint(args...)) }
func (f *failureTB) Logf(format string, args ...any)   { f.record(fmt.Sprintf(format, args...)) }

func (f *failureTB) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.report.WriteString(s)
	f.report.WriteString("\n")
}

func (f *failureTB) text() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.report.String()
}
