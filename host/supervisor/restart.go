package supervisor

import (
	"time"

	"github.com/cenkalti/backoff/v5"
)

// crashLoopAfter is how many failures in a row (exits before ResetAfter,
// or failed starts) put a plugin in StateCrashLoop.
const crashLoopAfter = 3

// restartPolicy decides how long to wait before restarting a plugin.
//
// The delay grows exponentially with jitter (cenkalti/backoff: from
// MinBackoff, doubling, ±50 %, never above MaxBackoff) while the plugin
// keeps failing: exiting before it has run ResetAfter, or failing to
// start. Once a plugin has run ResetAfter, its next exit counts as a first
// failure again and is restarted after about MinBackoff. So a plugin that
// is killed now and then recovers as fast every time, while one that dies
// at start backs off up to MaxBackoff and is reported as crash-looping.
//
// It is used by the supervisor's goroutine only.
type restartPolicy struct {
	b          backoff.BackOff
	max        time.Duration
	resetAfter time.Duration
	failures   int // in a row
}

func newRestartPolicy(minDelay, maxDelay, resetAfter time.Duration) *restartPolicy {
	return &restartPolicy{
		b: &backoff.ExponentialBackOff{
			InitialInterval:     minDelay,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         maxDelay,
		},
		max:        maxDelay,
		resetAfter: resetAfter,
	}
}

// failed records that the plugin exited after running up (zero for a
// start that failed) and returns the delay before the next start.
func (p *restartPolicy) failed(up time.Duration) time.Duration {
	if up >= p.resetAfter {
		p.b.Reset()
		p.failures = 0
	}
	p.failures++
	return min(p.b.NextBackOff(), p.max)
}

// crashLooping reports whether the plugin has failed crashLoopAfter times
// in a row.
func (p *restartPolicy) crashLooping() bool { return p.failures >= crashLoopAfter }
