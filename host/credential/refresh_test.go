package credential_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/host/credential"
)

func TestRefreshSharesOneRunAmongConcurrentCallers(t *testing.T) {
	t.Parallel()
	path, dir := script(t, `run; sleep 0.3; printf '{"token": "t%s"}' "$n"`)
	var ch changes
	s := newStore(t, []credential.Spec{shSpec("tok", path)}, credential.Options{OnChange: ch.record, Logger: (&logBuffer{}).logger()})
	start(t, s)
	first := get(t, s, "tok")

	const callers = 20
	var (
		wg   sync.WaitGroup
		gate = make(chan struct{})
		got  [callers]credential.Value
		errs [callers]error
	)
	for i := range callers {
		wg.Go(func() {
			<-gate
			got[i], errs[i] = s.Refresh(t.Context(), "tok", first.Version)
		})
	}
	close(gate)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || got[i].Version != 2 || got[i].Attrs["token"] != "t2" {
			t.Errorf("caller %d: %+v, %v; want version 2 with token t2", i, got[i], errs[i])
		}
	}
	if n := runs(t, dir); n != 2 {
		t.Errorf("the command ran %d times for Start and 20 concurrent Refresh calls, want 2", n)
	}
	waitFor(t, time.Second, "OnChange", func() bool { return ch.count("tok") == 1 })

	// A caller that used version 1 learns of version 2 without a run.
	began := time.Now()
	v, err := s.Refresh(t.Context(), "tok", first.Version)
	if err != nil || v.Version != 2 || time.Since(began) > 100*time.Millisecond {
		t.Errorf("Refresh with an old version: %+v, %v after %v; want version 2 at once", v, err, time.Since(began))
	}
	if n := runs(t, dir); n != 2 {
		t.Errorf("Refresh with an old version ran the command (%d runs)", n)
	}
	// A caller that used the current version gets a fetch.
	if v, err := s.Refresh(t.Context(), "tok", 2); err != nil || v.Version != 3 {
		t.Errorf("Refresh with the current version: %+v, %v; want version 3", v, err)
	}
	if st := status(t, s, "tok"); st.Refreshes != 2 || st.Version != 3 {
		t.Errorf("Status = %+v, want 2 refreshes, version 3", st)
	}
}

func TestRefreshReturnsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	path, dir := script(t, `run; if [ "$n" -gt 1 ]; then sleep 1; fi; printf '{"token": "t%s"}' "$n"`)
	s := newStore(t, []credential.Spec{shSpec("tok", path)}, credential.Options{Logger: (&logBuffer{}).logger()})
	start(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Refresh(ctx, "tok", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Refresh: %v, want its context's error", err)
	}
	// The fetch goes on, and a later caller shares it.
	if v, err := s.Refresh(t.Context(), "tok", 1); err != nil || v.Version != 2 {
		t.Errorf("second Refresh: %+v, %v", v, err)
	}
	if n := runs(t, dir); n != 2 {
		t.Errorf("the command ran %d times, want 2", n)
	}
}

func TestRefreshFailureKeepsTheLastGoodValue(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pg.json")
	writeFile(t, path, jsonAttrs("password", "good"))
	s := newStore(t, []credential.Spec{{Name: "pg", Source: credential.SourceFile, Path: path, PollInterval: time.Hour}}, credential.Options{Logger: (&logBuffer{}).logger()})
	start(t, s)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	_, err := s.Refresh(t.Context(), "pg", 1)
	var fe *credential.FetchError
	if !errors.As(err, &fe) || fe.Name != "pg" || fe.Source != credential.SourceFile {
		t.Fatalf("Refresh of a removed file: %v, want a *FetchError", err)
	}
	if v := get(t, s, "pg"); v.Attrs["password"] != "good" || v.Version != 1 {
		t.Errorf("Get after a failed Refresh = %+v, want the last good value", v)
	}
	if st := status(t, s, "pg"); st.State != credential.StateStale || st.Failures != 1 {
		t.Errorf("Status = %+v, want stale with one failure", st)
	}
	// Refresh reads the file even when the poll would not have yet.
	replaceFile(t, path, jsonAttrs("password", "new"))
	if v, err := s.Refresh(t.Context(), "pg", 1); err != nil || v.Attrs["password"] != "new" || v.Version != 2 {
		t.Errorf("Refresh after the file came back: %+v, %v", v, err)
	}
}
