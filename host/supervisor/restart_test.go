package supervisor

import (
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// steadyPolicy is newRestartPolicy without jitter, for exact delays.
func steadyPolicy(minDelay, maxDelay, resetAfter time.Duration) *restartPolicy {
	p := newRestartPolicy(minDelay, maxDelay, resetAfter)
	p.b.(*backoff.ExponentialBackOff).RandomizationFactor = 0
	return p
}

func TestRestartDelayDoublesWhileThePluginKeepsFailingAndResetsOnceItHasRun(t *testing.T) {
	p := steadyPolicy(100*time.Millisecond, 2*time.Second, 5*time.Second)
	ms := time.Millisecond
	steps := []struct {
		up        time.Duration
		want      time.Duration
		failures  int
		crashLoop bool
	}{
		{up: 45 * time.Second, want: 100 * ms, failures: 1}, // killed after a long run
		{up: 45 * time.Second, want: 100 * ms, failures: 1}, // again: still the shortest delay
		{up: 5 * time.Second, want: 100 * ms, failures: 1},  // ran exactly ResetAfter
		{up: 4 * time.Second, want: 200 * ms, failures: 2},  // died before ResetAfter
		{up: 0, want: 400 * ms, failures: 3, crashLoop: true},
		{up: 0, want: 800 * ms, failures: 4, crashLoop: true},
		{up: 0, want: 1600 * ms, failures: 5, crashLoop: true},
		{up: 0, want: 2000 * ms, failures: 6, crashLoop: true}, // capped
		{up: 0, want: 2000 * ms, failures: 7, crashLoop: true},
		{up: 6 * time.Second, want: 100 * ms, failures: 1}, // served ResetAfter: back to the start
	}
	for i, st := range steps {
		got := p.failed(st.up)
		if got != st.want || p.failures != st.failures || p.crashLooping() != st.crashLoop {
			t.Errorf("step %d (up %v): delay %v, failures %d, crash loop %v; want %v, %d, %v",
				i, st.up, got, p.failures, p.crashLooping(), st.want, st.failures, st.crashLoop)
		}
	}
}

func TestRestartDelaysAreJitteredWithinHalfAndNeverAboveTheMaximum(t *testing.T) {
	p := newRestartPolicy(100*time.Millisecond, time.Second, time.Minute)
	seen := map[time.Duration]bool{}
	for range 200 {
		d := p.failed(time.Hour) // always a first failure
		if d < 50*time.Millisecond || d > 151*time.Millisecond {
			t.Fatalf("first delay %v, want 100ms ± 50 %%", d)
		}
		seen[d] = true
	}
	if len(seen) < 20 {
		t.Errorf("only %d distinct delays in 200: no jitter", len(seen))
	}
	for range 50 {
		if d := p.failed(0); d > time.Second {
			t.Fatalf("delay %v above the maximum 1s", d)
		}
	}
}

// TestAPluginKilledAfterRunningResetAfterRestartsAsFastAsTheFirstTime
// kills a real plugin repeatedly: quick kills make the delay grow, a kill
// after ResetAfter brings it back to about MinBackoff.
func TestAPluginKilledAfterRunningResetAfterRestartsAsFastAsTheFirstTime(t *testing.T) {
	const (
		minDelay   = 200 * time.Millisecond
		resetAfter = 1500 * time.Millisecond
	)
	restarted := make(chan time.Time, 8)
	s := New(Config{Name: "probe", Path: testPlugin, Logger: quiet(), MinBackoff: minDelay, MaxBackoff: 5 * time.Second, ResetAfter: resetAfter,
		OnRestart: func(sdk.Driver, uint64) { restarted <- time.Now() }})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close(t.Context()) }()
	// killAndWait kills the plugin and returns the restart delay the
	// supervisor chose (from Info().NextRestart, seen within a few
	// milliseconds of the exit) and how long the plugin took to be running
	// again, the start included.
	killAndWait := func() (delay, recovery time.Duration) {
		t.Helper()
		pid := s.Info().PID
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		for {
			info := s.Info()
			if info.PID != pid && !info.NextRestart.IsZero() {
				delay = info.NextRestart.Sub(killed)
				break
			}
			if time.Since(killed) > 10*time.Second {
				t.Fatalf("no restart scheduled: %+v", info)
			}
			time.Sleep(2 * time.Millisecond)
		}
		select {
		case at := <-restarted:
			return delay, at.Sub(killed)
		case <-time.After(20 * time.Second):
			t.Fatal("no restart")
		}
		return 0, 0
	}
	var delays, recoveries []time.Duration
	for i := range 3 {
		d, rec := killAndWait()
		delays, recoveries = append(delays, d), append(recoveries, rec)
		if f := s.Info().Failures; f != i+1 {
			t.Errorf("failures %d after %d quick kills", f, i+1)
		}
	}
	t.Logf("killed at once after each restart: delays %v, recoveries %v", delays, recoveries)
	// 200ms ±50 %, then 400ms ±50 %, then 800ms ±50 %.
	if delays[2] < 400*time.Millisecond-20*time.Millisecond {
		t.Errorf("third delay %v: the delay did not grow", delays[2])
	}
	time.Sleep(resetAfter + 200*time.Millisecond)
	d, rec := killAndWait()
	t.Logf("after running %v: delay %v, recovery %v", resetAfter, d, rec)
	if d > 3*minDelay/2+20*time.Millisecond {
		t.Errorf("delay %v after the plugin ran ResetAfter, want the first delay %v ± 50 %%", d, minDelay)
	}
	if info := s.Info(); info.Failures != 1 || info.State != StateRunning {
		t.Errorf("after the reset: %+v", info)
	}
}
