package pool_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// lostWakeup is a deliberately broken copy of the exclusive pool: a lease
// released while callers wait is kept aside instead of being handed to
// the first waiter, who is never woken. The property must catch it.
type lostWakeup struct {
	exclusive
	mu     sync.Mutex
	parked []propLease
}

func (p *lostWakeup) Acquire(ctx context.Context) (propLease, error) {
	l, err := p.exclusive.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return lostWakeupLease{propLease: l, p: p}, nil
}

type lostWakeupLease struct {
	propLease
	p *lostWakeup
}

func (l lostWakeupLease) Release() {
	if l.p.Stat().Waiting == 0 {
		l.propLease.Release()
		return
	}
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	l.p.parked = append(l.p.parked, l.propLease)
}

// failureTB runs rapid.Check without failing the test it wraps: it
// records the failure report instead.
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

// TestExclusivePropertyCatchesLostWakeup runs the exclusive pool's
// property against lostWakeup, within the same budget, and requires it to
// fail.
func TestExclusivePropertyCatchesLostWakeup(t *testing.T) {
	// The failure is expected: write no fail file for it.
	nofail := flag.Lookup("rapid.nofailfile")
	old := nofail.Value.String()
	if err := nofail.Value.Set("true"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nofail.Value.Set(old) })

	f := &failureTB{T: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rapid.Check(f, exclusiveProperty(true))
	}()
	<-done
	if !f.Failed() {
		t.Fatal("the property passed on a pool whose Release does not wake waiters")
	}
	report := f.report.String()
	seed := "unknown seed"
	if i := strings.Index(report, "-rapid.seed="); i >= 0 {
		seed = strings.TrimRight(strings.Fields(report[i:])[0], ")")
	}
	first, _, _ := strings.Cut(report, "\n")
	t.Logf("property caught the lost wake-up (%s): %s", seed, first)
	if !strings.Contains(report, "waiters wait") {
		t.Errorf("the property failed for another reason than the lost wake-up:\n%s", report)
	}
}
