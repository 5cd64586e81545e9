package s3

import (
	"testing"
	"time"
)

func TestSweepIntervalIsHalfTheAgeAndAtLeastTheFloor(t *testing.T) {
	for after, want := range map[time.Duration]time.Duration{
		24 * time.Hour:          12 * time.Hour,
		2 * time.Second:         time.Second,
		time.Second:             sweepFloor,
		1500 * time.Millisecond: sweepFloor,
	} {
		if got := sweepInterval(after); got != want {
			t.Errorf("sweepInterval(%s) = %s, want %s", after, got, want)
		}
	}
}

// abort_incomplete_after "0s" starts no sweep; any other value starts one
// that Close stops and joins (goleak, in TestMain, finds one left).
func TestSweepRunsOnlyWhenSetAndCloseStopsIt(t *testing.T) {
	for after, want := range map[time.Duration]bool{0: false, time.Hour: true} {
		// An endpoint where nothing listens: the sweep fails, and goes on.
		res, err := configure(t.Context(), "sweep", Config{Bucket: "b", Endpoint: "http://127.0.0.1:1", PathStyle: true,
			AccessKeyID: "nebula-test-key", SecretAccessKey: "nebula-test-secret", AbortIncompleteAfter: after})
		if err != nil {
			t.Fatal(err)
		}
		r := res.(*Resource)
		if got := r.stopSweep != nil; got != want {
			t.Errorf("abort_incomplete_after %s: sweep started %v, want %v", after, got, want)
		}
		for range 2 {
			if err := r.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
}
