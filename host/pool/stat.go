package pool

import "time"

// Stat is a snapshot of a pool, in the manner of pgxpool.Stat.
type Stat struct {
	// Total is how many instances are open: idle, in use or being reset.
	Total int `json:"total"`
	// Idle is how many instances wait for a lease.
	Idle int `json:"idle"`
	// InUse is how many instances are leased (or being reset).
	InUse int `json:"in_use"`
	// Constructing is how many opens are in progress.
	Constructing int `json:"constructing"`
	// MinSize and MaxSize are the pool's limits.
	MinSize int `json:"min_size"`
	MaxSize int `json:"max_size"`
	// Waiting is how many callers wait for an instance now.
	Waiting int `json:"waiting"`

	// AcquireCount counts successful acquires; AcquireDuration is their
	// total wait.
	AcquireCount    int64         `json:"acquire_count"`
	AcquireDuration time.Duration `json:"acquire_duration_ns"`
	// EmptyAcquireCount counts acquires that found no idle instance and
	// had to open one or wait.
	EmptyAcquireCount int64 `json:"empty_acquire_count"`
	// CanceledAcquireCount counts acquires ended by their context's
	// cancellation.
	CanceledAcquireCount int64 `json:"canceled_acquire_count"`
	// TimeoutCount counts acquires that gave up: the pool was exhausted
	// until the caller's deadline or the acquire timeout.
	TimeoutCount int64 `json:"timeout_count"`

	// ResetCount counts the resets of released instances: the ones whose
	// session was not clean (Config.NeedsReset).
	ResetCount int64 `json:"reset_count"`

	// Created counts instances opened.
	Created int64 `json:"created"`
	// Destroyed counts instances closed, by reason.
	DestroyedIdle     int64 `json:"destroyed_idle"`
	DestroyedLifetime int64 `json:"destroyed_lifetime"`
	DestroyedBroken   int64 `json:"destroyed_broken"`
	DestroyedClosed   int64 `json:"destroyed_closed"`

	// Replicas describes each replica of a shared pool.
	Replicas []ReplicaStat `json:"replicas,omitempty"`

	// Window summarizes the acquires, their waits and the utilization
	// over the last few minutes, and advises on max_size.
	Window WindowStat `json:"window"`
}

// Stat returns a snapshot of the pool.
func (p *Pool[T]) Stat() Stat {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stat{
		Total:                len(p.all),
		Idle:                 p.idle.len(),
		InUse:                len(p.all) - p.idle.len(),
		Constructing:         p.constructing,
		MinSize:              p.cfg.MinSize,
		MaxSize:              p.cfg.MaxSize,
		Waiting:              p.waiters.Len(),
		AcquireCount:         p.st.acquires,
		AcquireDuration:      time.Duration(p.st.acquireNanos),
		EmptyAcquireCount:    p.st.emptyAcquires,
		CanceledAcquireCount: p.st.canceledAcquires,
		TimeoutCount:         p.st.timeouts,
		Created:              p.st.created,
		ResetCount:           p.st.resets,
		DestroyedIdle:        p.st.destroyedIdle,
		DestroyedLifetime:    p.st.destroyedLifetime,
		DestroyedBroken:      p.st.destroyedBroken,
		DestroyedClosed:      p.st.destroyedClosed,
		Window: p.win.stat(nanotime(), p.cfg.MaxSize, &adviceInput{
			minSize: p.cfg.MinSize, maxSize: p.cfg.MaxSize, total: len(p.all),
		}),
	}
}
