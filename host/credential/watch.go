package credential

import (
	"context"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// Backoff of failed refreshes.
const (
	firstRetry = 250 * time.Millisecond
	maxRetry   = 30 * time.Second
)

// watchFile keeps a file credential current until the store closes: every
// PollInterval it compares what os.Stat sees of the file with what the
// last read found, and reads the file again when they differ, or when the
// value it read is due for a refresh (see rereadDueLocked).
//
// It polls rather than using inotify (fsnotify) because the ways secrets
// are rotated replace the file rather than write it: an atomic rename over
// it, or Kubernetes' swap of the ..data symlink, and a watch on the file
// follows the old inode and goes quiet, while a watch on the directory
// must follow symlinks itself and be re-armed. os.Stat follows symlinks
// and os.SameFile compares inodes, which sees all of these; a stat of one
// file four times a second costs nothing.
func (s *Store) watchFile(c *cred) {
	t := time.NewTicker(c.spec.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		cur, err := os.Stat(c.spec.Path)
		if err != nil {
			cur = nil
		}
		c.mu.Lock()
		unchanged := sameFile(c.info, cur) && !c.rereadDueLocked(time.Now())
		c.mu.Unlock()
		if unchanged {
			continue
		}
		if !s.await(c) {
			return
		}
	}
}

// refreshExec keeps an exec credential current until the store closes:
// it runs the command again before the value's expiration, and after a
// failed refresh of a value that expires, with backoff. A value without
// an expiration is fetched again only by Refresh.
func (s *Store) refreshExec(c *cred) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		at, ok := c.nextRun()
		var due <-chan time.Time
		if ok {
			timer.Reset(time.Until(at))
			due = timer.C
		}
		select {
		case <-s.ctx.Done():
			return
		case <-c.kick:
			// A fetch ended (a Refresh, or this loop's own): schedule
			// afresh.
			continue
		case <-due:
		}
		if !s.await(c) {
			return
		}
	}
}

// await fetches c, sharing a fetch in progress, and waits for it; false
// when the store closed.
func (s *Store) await(c *cred) bool {
	c.mu.Lock()
	f := s.flightLocked(c)
	c.mu.Unlock()
	if f == nil {
		return false
	}
	select {
	case <-f.done:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// rereadDueLocked reports whether a file credential's value, which states
// an expiration, is due for its refresh at now (see refreshAt), so that
// the file is read again even though os.Stat sees no change: a rewrite
// in place of the same size within one tick of the file system's clock
// leaves no trace in os.Stat. A value whose last read failed, or that has
// expired, waits for a change. c.mu must be held.
func (c *cred) rereadDueLocked(now time.Time) bool {
	v := c.val
	return v.Attrs != nil && !v.Expires.IsZero() && c.lastErr == "" && !expired(v, now) &&
		!now.Before(refreshAt(v.FetchedAt, v.Expires, c.spec.RefreshBefore))
}

// nextRun returns when c's command is to run next, if it is to run.
func (c *cred) nextRun() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.val.Attrs == nil || c.val.Expires.IsZero():
		return time.Time{}, false
	case c.lastErr != "":
		return c.retryAt, true
	default:
		return refreshAt(c.val.FetchedAt, c.val.Expires, c.spec.RefreshBefore), true
	}
}

// refreshAt returns when a value fetched at fetched and expiring at
// expires is to be refreshed: before ahead of its expiry, or by default a
// third of its lifetime ahead, at most maxDefaultBefore; at least
// minBefore ahead. A value that lives shorter than that is refreshed after
// a tenth of its life, and not sooner than minInterval, so that a source
// of short-lived values does not run in a loop.
func refreshAt(fetched, expires time.Time, before time.Duration) time.Time {
	life := expires.Sub(fetched)
	if before == 0 {
		before = min(life/3, maxDefaultBefore)
	}
	before = max(before, minBefore)
	at := expires.Add(-before)
	if floor := fetched.Add(max(life/10, minInterval)); at.Before(floor) {
		at = floor
	}
	return at
}

// retryDelay returns the delay before the next try after streak failures
// in a row: firstRetry doubling up to maxRetry, drawn at random from its
// upper half so that credentials that failed together do not retry
// together.
func retryDelay(streak int) time.Duration {
	d := min(firstRetry<<min(streak-1, 16), maxRetry)
	return d/2 + rand.N(d/2+1)
}

// notifier calls OnChange from one goroutine, one call at a time, for the
// credentials whose values changed.
type notifier struct {
	fn   func(name string)
	wake chan struct{} // buffered 1: a name was queued

	mu     sync.Mutex // guards queue and queued; not held while fn runs
	queue  []string
	queued map[string]bool
}

func newNotifier(fn func(string)) *notifier {
	return &notifier{fn: fn, wake: make(chan struct{}, 1), queued: make(map[string]bool)}
}

// add queues a call for name, unless one is queued already.
func (n *notifier) add(name string) {
	n.mu.Lock()
	if !n.queued[name] {
		n.queued[name] = true
		n.queue = append(n.queue, name)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// run makes the calls queued until ctx ends; calls queued then are
// dropped.
func (n *notifier) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		}
		for ctx.Err() == nil {
			n.mu.Lock()
			if len(n.queue) == 0 {
				n.mu.Unlock()
				break
			}
			name := n.queue[0]
			n.queue = n.queue[1:]
			delete(n.queued, name)
			n.mu.Unlock()
			n.fn(name)
		}
	}
}
