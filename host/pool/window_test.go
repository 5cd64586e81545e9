package pool

// Tests of the sliding window on a clock they set: every time below is a
// synthetic nanotime, so the results are exact.

import (
	"testing"
	"time"
)

const (
	ms  = int64(time.Millisecond)
	sec = int64(time.Second)
)

// newWindow returns a window of the default span, 10 buckets of 30s,
// begun at origin.
func newWindow(origin int64) *window {
	w := &window{}
	w.init(origin, 0)
	return w
}

func TestHistogramBucketsAreWithinAnEighthOfTheWait(t *testing.T) {
	last := 0
	for ns := int64(1); ns < 1<<45; ns += ns/7 + 1 {
		i := histIndex(ns)
		if i < last || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d after %d", ns, i, last)
		}
		last = i
		if ns < 1<<histMinExp || ns >= 1<<(histMaxExp+1) {
			continue
		}
		if err := float64(histMid(i)-ns) / float64(ns); err > 0.125 || err < -0.125 {
			t.Fatalf("wait %d estimated %d: %.1f %% off", ns, histMid(i), 100*err)
		}
	}
	if got := histMid(histIndex(40 * ms)); got != 37748736 {
		t.Fatalf("40ms estimated %d, want 37748736 (the middle of [32Mi, 40Mi) ns)", got)
	}
}

func TestWindowQuantilesCountsAndMax(t *testing.T) {
	w := newWindow(0)
	at := 10 * sec
	for range 900 {
		w.hit(at, 1)
		w.setLevel(at, 0)
	}
	for range 50 {
		w.acquired(at, 2*ms, true)
	}
	for range 40 {
		w.acquired(at, 40*ms, true)
	}
	for range 10 {
		w.timedOut(at, 100*ms)
	}
	got := w.stat(20*sec, 4, nil)
	want := WindowStat{
		Window: 20 * time.Second, Acquires: 990, Waited: 90, Timeouts: 10,
		WaitP50:   0,
		WaitP95:   time.Duration(histMid(histIndex(2 * ms))), // rank 950: the last of the 2ms waits
		WaitP99:   time.Duration(histMid(histIndex(40 * ms))),
		WaitMax:   100 * time.Millisecond,
		InUsePeak: 1, UtilizationPeak: 0.25,
	}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if want.WaitP95 != 1966080 || want.WaitP99 != 37748736 {
		t.Fatalf("estimates %d, %d", want.WaitP95, want.WaitP99)
	}

	// A quantile is never above the longest wait.
	w = newWindow(0)
	for range 100 {
		w.acquired(sec, 34*ms, true) // in [32Mi, 40Mi) ns, whose middle is 36Mi
	}
	if got := w.stat(2*sec, 1, nil); got.WaitP50 != 34*time.Millisecond || got.WaitMax != 34*time.Millisecond {
		t.Fatalf("p50 %v, max %v, want 34ms", got.WaitP50, got.WaitMax)
	}
}

func TestWindowUtilizationIsWeightedByTime(t *testing.T) {
	w := newWindow(0)
	w.setLevel(10*sec, 2)
	w.setLevel(20*sec, 4) // the bucket changes at 30s, with 4 in use
	w.setLevel(40*sec, 1)
	got := w.stat(60*sec, 4, nil)
	// (0·10 + 2·10 + 4·20 + 1·20) / 60 = 2 in use on average.
	if got.Window != time.Minute || got.InUseMean != 2 || got.UtilizationMean != 0.5 || got.InUsePeak != 4 || got.UtilizationPeak != 1 {
		t.Fatalf("got %+v", got)
	}

	// A time read before the lock and beaten to it by a later one adds
	// nothing, and takes nothing away.
	w.setLevel(59*sec, 1)
	if got := w.stat(60*sec, 4, nil); got.InUseMean != 2 {
		t.Fatalf("mean %v after a stale time, want 2", got.InUseMean)
	}
}

func TestWindowSlidesBucketByBucket(t *testing.T) {
	w := newWindow(0)
	w.setLevel(sec, 3)
	for range 100 {
		w.hit(sec, 3)
	}
	w.acquired(40*sec, 5*ms, true)

	// At 4m59s the window is still the buckets from 0 to 5m.
	got := w.stat(299*sec, 3, nil)
	if got.Window != 299*time.Second || got.Acquires != 101 || got.Waited != 1 {
		t.Fatalf("at 4m59s: %+v", got)
	}
	// At 5m1s it is [30s, 5m1s): the bucket of the hits has gone.
	got = w.stat(301*sec, 3, nil)
	if got.Window != 271*time.Second || got.Acquires != 1 || got.Waited != 1 || got.WaitMax != 5*time.Millisecond {
		t.Fatalf("at 5m1s: %+v", got)
	}
	// 3 in use all along, in buckets entered at that level.
	if got.InUseMean != 3 || got.InUsePeak != 3 || got.UtilizationMean != 1 {
		t.Fatalf("at 5m1s: utilization %+v", got)
	}
	// An hour later, with nothing recorded meanwhile, nothing is left but
	// the level.
	got = w.stat(3600*sec+sec, 3, nil)
	want := WindowStat{Window: 271 * time.Second, InUseMean: 3, InUsePeak: 3, UtilizationMean: 1, UtilizationPeak: 1}
	if got != want {
		t.Fatalf("an hour later: got %+v, want %+v", got, want)
	}
}

func TestWindowTakesBackAnAcquireGivenUp(t *testing.T) {
	w := newWindow(0)
	w.acquired(sec, 7*ms, true)
	epoch := uint32(w.epoch)
	w.unacquire(epoch, 7*ms)
	w.timedOut(2*sec, 8*ms)
	got := w.stat(3*sec, 1, nil)
	if got.Acquires != 0 || got.Waited != 0 || got.Timeouts != 1 || got.WaitP50 != time.Duration(histMid(histIndex(8*ms))) || got.WaitMax != 8*time.Millisecond {
		t.Fatalf("got %+v", got)
	}
	// From the bucket that counted it, which need not be the current one,
	// even when the low 32 bits of the bucket's number wrap.
	for _, origin := range []int64{0, 1<<32 - 2} {
		w := &window{}
		w.init(origin, 10) // 10 buckets of 1ns
		w.acquired(origin, 7*ms, true)
		epoch := uint32(w.epoch)
		w.hit(origin+3, 0)
		w.unacquire(epoch, 7*ms)
		if got := w.stat(origin+3, 1, nil); got.Acquires != 1 || got.Waited != 0 || got.WaitMax != 7*time.Millisecond || got.WaitP99 != 0 {
			t.Fatalf("from %d: got %+v", origin, got)
		}
	}

	// Once its bucket has left the window there is nothing to take back.
	w.acquired(4*sec, 7*ms, true)
	epoch = uint32(w.epoch)
	w.hit(400*sec, 0)
	w.unacquire(epoch, 7*ms)
	if got := w.stat(400*sec, 1, nil); got.Acquires != 1 {
		t.Fatalf("got %+v", got)
	}
}

func TestWindowBucketsFollowTheSpan(t *testing.T) {
	w := &window{}
	w.init(0, time.Minute) // 10 buckets of 6s
	w.hit(sec, 1)
	if got := w.stat(61*sec, 1, nil); got.Acquires != 0 || got.Window != 55*time.Second {
		t.Fatalf("got %+v", got)
	}
}

// saturated returns a window in which a pool of size 8 had all 8
// instances in use for 100s, and n acquires that waited wait each.
func saturated(n int, wait int64) *window {
	w := newWindow(0)
	w.setLevel(0, 8)
	for i := range n {
		w.acquired(int64(i)*100*sec/int64(n), wait, true)
	}
	return w
}

func TestAdviceRaisesMaxSizeByLittlesLaw(t *testing.T) {
	in := &adviceInput{maxSize: 8, total: 8}
	// 15,000 acquires that waited 40ms each in 100s: 6 callers waiting on
	// average, besides the 8 in use.
	got := saturated(15000, 40*ms).stat(100*sec, 8, in)
	if want := "p95 wait 38 ms at 100 % peak utilization: raise max_size to ~14"; got.Advice != want {
		t.Fatalf("advice %q, want %q (%+v)", got.Advice, want, got)
	}
	// 1,500 of them: 0.6 waiting, which rounds up to one more instance.
	got = saturated(1500, 40*ms).stat(100*sec, 8, in)
	if want := "p95 wait 38 ms at 100 % peak utilization: raise max_size to ~9"; got.Advice != want {
		t.Fatalf("advice %q, want %q", got.Advice, want)
	}
	// Waits under 10 ms are no reason.
	if got := saturated(15000, 9*ms).stat(100*sec, 8, in); got.Advice != "" {
		t.Fatalf("advice %q for 9ms waits", got.Advice)
	}
	// Nor are waits while the pool was not full: opens, say.
	w := newWindow(0)
	w.setLevel(0, 7)
	for range 1000 {
		w.acquired(sec, 50*ms, true)
	}
	if got := w.stat(100*sec, 8, in); got.Advice != "" || got.UtilizationPeak != 0.875 {
		t.Fatalf("advice %q at 7 of 8 in use", got.Advice)
	}
}

func TestAdviceSizesForTheBusiestBucket(t *testing.T) {
	in := &adviceInput{maxSize: 8, total: 8}
	// Idle but for 30s from 2m, when 8 were in use and 3,000 acquires
	// waited 80ms each: 8 callers waiting on average, besides the 8 in
	// use. Over the whole window that would be 1.6 callers.
	w := newWindow(0)
	w.setLevel(120*sec, 8)
	for i := range int64(3000) {
		w.acquired(120*sec+i*10*ms, 80*ms, true)
	}
	w.setLevel(150*sec, 0)
	got := w.stat(299*sec, 8, in)
	if want := "p95 wait 75 ms at 100 % peak utilization: raise max_size to ~16"; got.Advice != want {
		t.Fatalf("advice %q, want %q (%+v)", got.Advice, want, got)
	}

	// While no bucket covers 15s, the whole window counts: (8·10s + 1,000
	// waits of 40ms) / 10s = 12 callers.
	w = newWindow(0)
	w.setLevel(0, 8)
	for i := range int64(1000) {
		w.acquired(i*10*ms, 40*ms, true)
	}
	if got := w.stat(10*sec, 8, in); got.Advice != "p95 wait 38 ms at 100 % peak utilization: raise max_size to ~12" {
		t.Fatalf("advice %q", got.Advice)
	}
}

func TestAdviceCountsTimeouts(t *testing.T) {
	w := newWindow(0)
	w.setLevel(0, 8)
	for range 1000 {
		w.hit(sec, 8)
	}
	for range 20 {
		w.timedOut(2*sec, sec)
	}
	// The 1,000 hits put p95 at 0; the 20 timeouts are 2 % of acquires.
	// (8·100s + 20·1s) / 100s = 8.2 callers.
	got := w.stat(100*sec, 8, &adviceInput{maxSize: 8, total: 8})
	if want := "p95 wait 0 ms and 2 % of acquires timed out at 100 % peak utilization: raise max_size to ~9"; got.Advice != want {
		t.Fatalf("advice %q, want %q", got.Advice, want)
	}
	// Under 1 % is no reason.
	w = newWindow(0)
	w.setLevel(0, 8)
	for range 1000 {
		w.hit(sec, 8)
	}
	for range 9 {
		w.timedOut(2*sec, sec)
	}
	if got := w.stat(100*sec, 8, &adviceInput{maxSize: 8, total: 8}); got.Advice != "" {
		t.Fatalf("advice %q for 0.9 %% timeouts", got.Advice)
	}
}

func TestAdviceNeedsAHundredAcquires(t *testing.T) {
	in := &adviceInput{maxSize: 8, total: 8}
	if got := saturated(99, sec).stat(100*sec, 8, in); got.Advice != "" {
		t.Fatalf("advice %q from 99 acquires", got.Advice)
	}
	if got := saturated(100, sec).stat(100*sec, 8, in); got.Advice == "" {
		t.Fatal("no advice from 100 acquires that waited 1s each")
	}
	// Timeouts count towards the hundred.
	// The busiest full bucket is one of the first three, each with 8 in
	// use and 27 waits of 1s: 8.9 callers. The 10 timeouts end in the last
	// bucket, 10s long, which is too short to count.
	w := saturated(90, sec)
	for range 10 {
		w.timedOut(99*sec, sec)
	}
	if got := w.stat(100*sec, 8, in); got.Advice != "p95 wait 1000 ms and 10 % of acquires timed out at 100 % peak utilization: raise max_size to ~9" {
		t.Fatalf("advice %q", got.Advice)
	}
}

// idleMostly returns a window of a pool with up to 4 of its instances in
// use, and 200 acquires, from 0 to end.
func idleMostly(end int64) *window {
	w := newWindow(0)
	for i := range int64(200) {
		at := i * end / 200
		w.hit(at, int(i%4)+1)
		w.setLevel(at+ms, 0)
	}
	return w
}

func TestAdviceLowersMaxSizeAfterAFullWindow(t *testing.T) {
	in := &adviceInput{minSize: 2, maxSize: 20, total: 10}
	// 4 of 20 at most: 6 would have put the peak at 67 %.
	got := idleMostly(299*sec).stat(299*sec, 20, in)
	if want := "peak utilization 20 % over 4m59s: max_size could be ~6"; got.Advice != want {
		t.Fatalf("advice %q, want %q (%+v)", got.Advice, want, got)
	}
	// After 5m the window is 9 buckets and the current one.
	got = idleMostly(299*sec).stat(300*sec, 20, in)
	if want := "peak utilization 20 % over 4m30s: max_size could be ~6"; got.Advice != want {
		t.Fatalf("advice %q, want %q", got.Advice, want)
	}
	// Not before the window is full.
	if got := idleMostly(269*sec).stat(269*sec, 20, in); got.Advice != "" {
		t.Fatalf("advice %q after 4m29s", got.Advice)
	}
	// Not when the pool holds no more than min_size: the idle instances
	// are gone already.
	if got := idleMostly(299*sec).stat(299*sec, 20, &adviceInput{minSize: 2, maxSize: 20, total: 2}); got.Advice != "" {
		t.Fatalf("advice %q with total = min_size", got.Advice)
	}
	// Not below min_size.
	got = idleMostly(299*sec).stat(299*sec, 20, &adviceInput{minSize: 8, maxSize: 20, total: 10})
	if want := "peak utilization 20 % over 4m59s: max_size could be ~8"; got.Advice != want {
		t.Fatalf("advice %q, want %q", got.Advice, want)
	}
	// Not at a peak of 30 % or more: 4 of 13.
	if got := idleMostly(299*sec).stat(299*sec, 13, &adviceInput{minSize: 2, maxSize: 13, total: 10}); got.Advice != "" || got.UtilizationPeak < 0.3 {
		t.Fatalf("advice %q at a %.2f peak", got.Advice, got.UtilizationPeak)
	}
	// Not after a timeout.
	w := idleMostly(299 * sec)
	w.timedOut(298*sec, sec)
	if got := w.stat(299*sec, 20, in); got.Advice != "" {
		t.Fatalf("advice %q after a timeout", got.Advice)
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{millis(0), "0 ms"},
		{millis(400 * time.Microsecond), "0.40 ms"},
		{millis(2500 * time.Microsecond), "2.5 ms"},
		{millis(40 * time.Millisecond), "40 ms"},
		{percent(1), "100 %"},
		{percent(0.2), "20 %"},
		{fmtSpan(5 * time.Minute), "5m"},
		{fmtSpan(297*time.Second + 400*time.Millisecond), "4m57s"},
		{fmtSpan(time.Hour), "1h"},
		{fmtSpan(30 * time.Second), "30s"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
