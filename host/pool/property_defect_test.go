package pool_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/nebula-resource/nebula-resource/internal/propertytest"
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

// TestExclusivePropertyCatchesLostWakeup runs the exclusive pool's
// property against lostWakeup, within the same budget, and requires it to
// fail.
func TestExclusivePropertyCatchesLostWakeup(t *testing.T) {
	report, seed, caught := propertytest.Caught(t, exclusiveProperty(true))
	if !caught {
		t.Fatal("the property passed on a pool whose Release does not wake waiters")
	}
	first, _, _ := strings.Cut(report, "\n")
	t.Logf("property caught the lost wake-up (%s): %s", seed, first)
	if !strings.Contains(report, "waiters wait") {
		t.Errorf("the property failed for another reason than the lost wake-up:\n%s", report)
	}
}
