package pool

import (
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// DefaultStatWindow is the span of [Stat].Window when the pool's
// configuration sets none.
const DefaultStatWindow = 5 * time.Minute

// WindowStat summarizes a pool's recent use: its acquires, their waits and
// how busy the pool was, over a sliding window (Config.StatWindow, default
// 5 minutes). The window is kept as 10 buckets of a tenth of its span each,
// aligned to multiples of that tenth and rotated as time passes, so it
// covers the current bucket and the 9 before it: between 9/10 of the span
// and the span, or less while the pool is younger than that.
//
// For an exclusive [Pool], a wait is how long an Acquire took to get an
// instance: waiting in the queue for a release, opening a new instance, or
// checking an idle one (Config.ValidateAfterIdle). An acquire that takes an
// idle instance without a check waits 0. The wait quantiles are over every
// acquire that ended with a lease (Acquires) or with a timeout (Timeouts),
// a timed-out acquire counting with the time it waited; acquires ended by
// their context's cancellation, or by a failed open, are not counted.
// They are estimated from a histogram with 4 buckets per power of two, as
// the middle of the bucket holding the quantile, which is within 12.5 % of
// the true value from 1.024 µs to 37 minutes; waits under 1.024 µs share
// one bucket, whose quantiles read 512 ns, and waits over 37 minutes share
// the last one. No quantile is above WaitMax, which is exact.
//
// Utilization is the instances in use (leased or being reset, as
// [Stat].InUse) over MaxSize: UtilizationMean is its mean over the window,
// weighted by time, and UtilizationPeak its highest value.
//
// A [Shared] pool never waits: its acquires take a replica at once or
// fail, so its Waited, Timeouts and waits are 0. Its InUseMean and
// InUsePeak count the leases in flight on all replicas, and its
// utilization is the leases in flight per replica, which can exceed 1
// since a replica takes any number of leases at once. It gets no Advice:
// its replicas are there to spread the load and to fail over, and no
// caller waits for them.
type WindowStat struct {
	// Window is the time the summary covers, up to Config.StatWindow.
	Window time.Duration `json:"window_ns"`
	// Acquires counts the acquires that got an instance; Waited counts
	// those of them that found no idle instance, and so waited for a
	// release or an open. Timeouts counts the acquires that gave up.
	Acquires int64 `json:"acquires"`
	Waited   int64 `json:"waited"`
	Timeouts int64 `json:"timeouts"`
	// The 50th, 95th and 99th percentiles of the waits, and the longest.
	WaitP50 time.Duration `json:"wait_p50_ns"`
	WaitP95 time.Duration `json:"wait_p95_ns"`
	WaitP99 time.Duration `json:"wait_p99_ns"`
	WaitMax time.Duration `json:"wait_max_ns"`
	// InUseMean is the mean of the instances in use (for a shared pool,
	// the leases in flight), weighted by time; InUsePeak their most.
	InUseMean float64 `json:"in_use_mean"`
	InUsePeak int     `json:"in_use_peak"`
	// UtilizationMean and UtilizationPeak are InUseMean and InUsePeak over
	// MaxSize, from 0 to 1 (for a shared pool, over the replicas).
	UtilizationMean float64 `json:"utilization_mean"`
	UtilizationPeak float64 `json:"utilization_peak"`
	// Advice recommends a max_size when the window shows the pool too
	// small or too large, and is empty otherwise: when it is sized well,
	// or when the window holds too few acquires to tell. It is one of
	//
	//	p95 wait 40 ms at 100 % peak utilization: raise max_size to ~N
	//	p95 wait 2 ms and 3 % of acquires timed out at 100 % peak utilization: raise max_size to ~N
	//	peak utilization 20 % over 4m57s: max_size could be ~N
	//
	// The first is given when the window holds at least 100 acquires
	// (timeouts included), the p95 wait is 10 ms or more or at least 1 %
	// of them timed out, and utilization peaked at 90 % or more. N is the
	// mean number of callers that held or waited for an instance in the
	// busiest bucket of the window (a tenth of it, 30s by default),
	// rounded up, and at least MaxSize+1. By Little's law that mean is the
	// instances in use plus the rate of acquires times their mean wait;
	// it is computed as (the time integral of the instances in use + the
	// sum of the waits that ended in the bucket) / the bucket's time. Only
	// buckets that cover at least half their span count, or the whole
	// window while none does. N is the size that would have served the
	// callers of that bucket without a queue, on average. When the callers
	// loop on the pool it is their number; when they come independently of
	// it and the pool was close to saturation, it overshoots, as a queue
	// grows fastest then: read it as an upper bound to try towards.
	//
	// The second is given when the window is full (all its buckets are
	// from the pool's life, so that it covers 9/10 of its span at least),
	// holds at least 100 acquires and no timeout, utilization stayed under
	// 30 % and the pool holds more than MinSize instances. N is the smallest size at which the peak would
	// have been at most 70 %, ceil(InUsePeak / 0.7), and at least MinSize
	// and 1; the advice is given only when N is below MaxSize.
	Advice string `json:"advice"`
}

// Thresholds of the advice, documented on WindowStat.Advice.
const (
	adviceMinAcquires    = 100
	adviceWaitP95        = 10 * time.Millisecond
	adviceTimeoutPercent = 1  // of the acquires, timeouts included
	adviceHighPercent    = 90 // peak utilization at or above which to raise
	adviceLowPercent     = 30 // peak utilization under which to lower
	adviceTargetPercent  = 70 // the peak utilization a lowered max_size aims at
)

const (
	// windowBuckets is how many buckets the window is kept as.
	windowBuckets = 10

	// The wait histogram: waits under 2^histMinExp ns share bucket 0;
	// from there each power of two is split into histSub buckets, up to
	// 2^(histMaxExp+1) ns (about 37 minutes), and the last bucket takes
	// anything longer.
	histSubBits = 2
	histSub     = 1 << histSubBits
	histMinExp  = 10
	histMaxExp  = 40
	histBuckets = 1 + (histMaxExp-histMinExp+1)*histSub
)

// histIndex returns the histogram bucket of a wait of ns nanoseconds.
func histIndex(ns int64) int {
	if ns < 1<<histMinExp {
		return 0
	}
	e := bits.Len64(uint64(ns)) - 1 // 2^e <= ns < 2^(e+1)
	if e > histMaxExp {
		return histBuckets - 1
	}
	sub := int(ns>>(e-histSubBits)) & (histSub - 1)
	return 1 + (e-histMinExp)*histSub + sub
}

// histMid returns the middle of histogram bucket i, the estimate of the
// waits in it.
func histMid(i int) int64 {
	if i == 0 {
		return 1 << (histMinExp - 1)
	}
	e := histMinExp + (i-1)/histSub
	width := int64(1) << (e - histSubBits)
	return 1<<e + int64((i-1)%histSub)*width + width/2
}

// window keeps the sliding window behind [WindowStat]. It takes the time
// (nanoseconds on a clock that starts at or after 0; the pools use
// nanotime) as an argument, which lets tests set it, and rotates its
// buckets lazily, when something is recorded or read. A time before one
// it was given already (read before the pool's lock, and beaten to it)
// counts as in the current bucket. It does no locking: the pool's mutex
// guards it. It points into itself: it must not be copied after init.
type window struct {
	span   int64      // of one bucket, ns
	origin int64      // when recording began
	epoch  int64      // number of the current bucket: it covers [epoch*span, next)
	next   int64      // when the current bucket ends
	cur    *winBucket // the current bucket: &b[epoch % windowBuckets]
	level  int        // instances in use (leases in flight) now
	since  int64      // up to when level has been added to busy
	b      [windowBuckets]winBucket
}

type winBucket struct {
	acquires, waited, timeouts int64
	waitSum, waitMax           int64 // of the waits recorded in hist, ns
	busy                       int64 // the integral of level over the bucket's time, ns
	peak                       int   // the highest level in the bucket
	// hist counts the waits by histIndex. It is allocated by the bucket's
	// first wait, so that a pool whose acquires never wait (a shared
	// pool, an idle one) keeps 10 small buckets, not 5 KiB of histograms.
	hist *[histBuckets]uint32
}

func (w *window) init(now int64, span time.Duration) {
	if span <= 0 {
		span = DefaultStatWindow
	}
	w.span = max(1, int64(span)/windowBuckets)
	w.origin, w.since = now, now
	w.epoch = now / w.span
	w.next = (w.epoch + 1) * w.span
	w.cur = &w.b[w.epoch%windowBuckets]
}

// rotate makes the bucket holding now the current one, if now is past the
// current one, clearing the buckets it reuses. Each bucket it leaves gets
// the level added up to its end; each it enters starts at the level.
func (w *window) rotate(now int64) {
	e := now / w.span
	if e <= w.epoch {
		return
	}
	if e-w.epoch > windowBuckets {
		// Every bucket goes: start from the one that becomes current
		// first, whose busy time is cleared on entry anyway.
		w.epoch = e - windowBuckets
		w.cur = &w.b[w.epoch%windowBuckets]
		w.since = w.epoch * w.span
		w.next = w.since + w.span
	}
	for w.epoch < e {
		w.integrate(w.next)
		w.epoch++
		w.next += w.span
		w.cur = &w.b[w.epoch%windowBuckets]
		*w.cur = winBucket{peak: w.level}
	}
}

// integrate adds the level from since to t to the current bucket. A t
// before since (read before the lock, and beaten to it) adds nothing.
func (w *window) integrate(t int64) {
	if t > w.since {
		w.cur.busy += int64(w.level) * (t - w.since)
		w.since = t
	}
}

// setLevel records that level instances are in use from now on.
func (w *window) setLevel(now int64, level int) {
	if now >= w.next {
		w.rotate(now)
	}
	w.integrate(now)
	w.level = level
	if level > w.cur.peak {
		w.cur.peak = level
	}
}

// hit records an acquire that took an idle instance at once, and the
// level after it: the pool's hot path.
func (w *window) hit(now int64, level int) {
	w.setLevel(now, level)
	w.cur.acquires++
}

// acquired records an acquire that took wait ns; waited says it found no
// idle instance. The caller sets the level.
func (w *window) acquired(now, wait int64, waited bool) {
	if now >= w.next {
		w.rotate(now)
	}
	b := w.cur
	b.acquires++
	if waited {
		b.waited++
	}
	b.record(wait)
}

// unacquire takes back an acquire recorded by acquired(…, wait, true) in
// the bucket of the epoch whose low 32 bits are given, whose caller gave
// up the instance: the caller then records how its acquire ended. The
// bucket's longest wait stays, since the caller did wait that long.
func (w *window) unacquire(epoch uint32, wait int64) {
	back := int64(uint32(w.epoch) - epoch) // buckets since; wraps as the epoch does
	if back >= windowBuckets {
		return // that bucket is gone
	}
	b := &w.b[(w.epoch-back)%windowBuckets]
	b.acquires--
	b.waited--
	wait = max(0, wait)
	b.waitSum -= wait
	if b.hist != nil {
		b.hist[histIndex(wait)]--
	}
}

// timedOut records an acquire that gave up after wait ns.
func (w *window) timedOut(now, wait int64) {
	if now >= w.next {
		w.rotate(now)
	}
	b := w.cur
	b.timeouts++
	b.record(wait)
}

func (b *winBucket) record(wait int64) {
	wait = max(0, wait)
	b.waitSum += wait
	b.waitMax = max(b.waitMax, wait)
	if b.hist == nil {
		b.hist = new([histBuckets]uint32)
	}
	b.hist[histIndex(wait)]++
}

// adviceInput is what the advice needs besides the window.
type adviceInput struct {
	minSize, maxSize, total int
}

// stat summarizes the window at now. capacity is what utilization is
// relative to; adv, when not nil, asks for Advice.
func (w *window) stat(now int64, capacity int, adv *adviceInput) WindowStat {
	if now >= w.next {
		w.rotate(now)
	}
	w.integrate(now)
	first := max(w.origin, (w.epoch-windowBuckets+1)*w.span)
	covered := max(0, now-first)
	var (
		ws       = WindowStat{Window: time.Duration(covered)}
		hist     [histBuckets]int64
		busy     int64
		waitSum  int64
		recorded int64
	)
	for i := range w.b {
		b := &w.b[i]
		ws.Acquires += b.acquires
		ws.Waited += b.waited
		ws.Timeouts += b.timeouts
		ws.WaitMax = max(ws.WaitMax, time.Duration(b.waitMax))
		ws.InUsePeak = max(ws.InUsePeak, b.peak)
		busy += b.busy
		waitSum += b.waitSum
		if b.hist != nil {
			for j, n := range b.hist {
				hist[j] += int64(n)
				recorded += int64(n)
			}
		}
	}
	attempts := ws.Acquires + ws.Timeouts
	quantile := func(percent int64) time.Duration {
		rank := (percent*attempts + 99) / 100 // 1-based, rounded up
		seen := attempts - recorded           // the acquires that waited 0
		if rank <= seen {
			return 0
		}
		for i, n := range hist {
			if seen += n; seen >= rank {
				return min(time.Duration(histMid(i)), ws.WaitMax)
			}
		}
		return ws.WaitMax
	}
	if attempts > 0 {
		ws.WaitP50, ws.WaitP95, ws.WaitP99 = quantile(50), quantile(95), quantile(99)
	}
	if covered > 0 {
		ws.InUseMean = float64(busy) / float64(covered)
	}
	if capacity > 0 {
		ws.UtilizationMean = ws.InUseMean / float64(capacity)
		ws.UtilizationPeak = float64(ws.InUsePeak) / float64(capacity)
	}
	if adv != nil {
		full := w.origin <= (w.epoch-windowBuckets+1)*w.span
		ws.Advice = advise(ws, w.demand(now, busy+waitSum, covered), full, *adv)
	}
	return ws
}

// demand returns the mean number of callers that held or waited for an
// instance in the busiest bucket of the window, rounded up: by Little's
// law, the bucket's integral of the instances in use plus the sum of the
// waits that ended in it, over its time. Only buckets that cover half a
// span or more count; when none does (the window is young), the whole
// window does, whose integral plus waits is total.
func (w *window) demand(now, total, covered int64) int64 {
	var most int64
	found := false
	for e := w.epoch - windowBuckets + 1; e <= w.epoch; e++ {
		from := max(e*w.span, w.origin)
		to := min((e+1)*w.span, now)
		if to-from < (w.span+1)/2 {
			continue
		}
		b := &w.b[e%windowBuckets]
		most = max(most, ceilDiv(b.busy+b.waitSum, to-from))
		found = true
	}
	if !found && covered > 0 {
		return ceilDiv(total, covered)
	}
	return most
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// advise returns WindowStat.Advice, whose doc says how.
func advise(ws WindowStat, demand int64, full bool, in adviceInput) string {
	attempts := ws.Acquires + ws.Timeouts
	covered := int64(ws.Window)
	if attempts < adviceMinAcquires || covered <= 0 || in.maxSize <= 0 {
		return ""
	}
	peak := int64(ws.InUsePeak)
	size := int64(in.maxSize)
	slow := ws.WaitP95 >= adviceWaitP95
	timingOut := ws.Timeouts*100 >= adviceTimeoutPercent*attempts
	if (slow || timingOut) && peak*100 >= adviceHighPercent*size {
		n := max(size+1, demand)
		reason := "p95 wait " + millis(ws.WaitP95)
		if timingOut {
			reason += fmt.Sprintf(" and %s of acquires timed out", percent(float64(ws.Timeouts)/float64(attempts)))
		}
		return fmt.Sprintf("%s at %s peak utilization: raise max_size to ~%d", reason, percent(ws.UtilizationPeak), n)
	}
	if full && ws.Timeouts == 0 && peak*100 < adviceLowPercent*size && in.total > in.minSize {
		n := max(int64(in.minSize), 1, (peak*100+adviceTargetPercent-1)/adviceTargetPercent)
		if n < size {
			return fmt.Sprintf("peak utilization %s over %s: max_size could be ~%d", percent(ws.UtilizationPeak), fmtSpan(ws.Window), n)
		}
	}
	return ""
}

// millis formats a wait in milliseconds, as "40 ms" or "2.5 ms".
func millis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "0 ms"
	case ms >= 10:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 1:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f ms", ms)
	}
}

// percent formats a ratio as a whole percentage, as "20 %".
func percent(x float64) string { return fmt.Sprintf("%.0f %%", 100*x) }

// fmtSpan formats a duration to the second, without zero units at its
// end: "5m", "4m57s", "1h".
func fmtSpan(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
