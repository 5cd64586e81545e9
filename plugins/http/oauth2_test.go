package httpclient_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tokenServer is an OAuth2 token endpoint that counts the tokens it
// issues, each valid for expiresIn seconds, to the client cid/secret.
type tokenServer struct {
	*httptest.Server
	issued atomic.Int64
	mu     sync.Mutex // guards current and times
	valid  map[string]bool
	times  []time.Time
}

func newTokenServer(t *testing.T, cid, secret string, expiresIn int) *tokenServer {
	ts := &tokenServer{valid: map[string]bool{}}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, sec, ok := r.BasicAuth()
		if !ok {
			_ = r.ParseForm()
			id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != cid || sec != secret || r.FormValue("grant_type") != "client_credentials" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad client %s / %s, header %s"}`, id, sec, r.Header.Get("Authorization"))
			return
		}
		n := ts.issued.Add(1)
		tok := fmt.Sprintf("access-%d-%s", n, r.FormValue("scope"))
		ts.mu.Lock()
		ts.valid[tok] = true
		ts.times = append(ts.times, time.Now())
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": expiresIn})
	}))
	t.Cleanup(ts.Close)
	return ts
}

// protectedAPI answers 200 to a request with a token ts issued, 401
// otherwise, and counts what it answered.
func protectedAPI(t *testing.T, ts *tokenServer) (*httptest.Server, *atomic.Int64) {
	var ok atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		ts.mu.Lock()
		valid := len(auth) > 7 && auth[:7] == "Bearer " && ts.valid[auth[7:]]
		ts.mu.Unlock()
		if !valid {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ok.Add(1)
		_, _ = w.Write([]byte("secret data"))
	}))
	t.Cleanup(srv.Close)
	return srv, &ok
}

// Many calls share one token; when it expires (less oauth2's 10 s
// margin: 12 s tokens are refreshed after 2 s) exactly one more is
// fetched.
func TestOAuth2ClientCredentialsFetchesOnceAndRefreshesOnExpiry(t *testing.T) {
	ts := newTokenServer(t, "client-1", "s3cret", 12)
	api, ok := protectedAPI(t, ts)
	inst := open(t, api.URL, map[string]any{
		"oauth2_token_url": ts.URL + "/token", "oauth2_client_id": "client-1", "oauth2_client_secret": "s3cret",
		"oauth2_scopes": []string{"read"},
	})
	call := func() error {
		res, err := invoke[result](t, inst, "fetch", map[string]any{"path": "/data"})
		if err == nil && res.Body != "secret data" {
			err = fmt.Errorf("body %q", res.Body)
		}
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() { errs <- call() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := ts.issued.Load(); n != 1 {
		t.Fatalf("40 calls fetched %d tokens, want 1", n)
	}
	// Call until the token is refreshed: 2 s after it was issued.
	deadline := time.Now().Add(15 * time.Second)
	for ts.issued.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the token was never refreshed")
		}
		if err := call(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // pacing the calls, not synchronizing
	}
	for range 10 {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	ts.mu.Lock()
	gap := ts.times[1].Sub(ts.times[0])
	ts.mu.Unlock()
	t.Logf("%d calls, %d tokens, refreshed %s after the first", ok.Load(), ts.issued.Load(), gap.Round(time.Millisecond))
	if n := ts.issued.Load(); n != 2 {
		t.Fatalf("%d tokens fetched, want exactly 2", n)
	}
	if gap < 1900*time.Millisecond || gap > 5*time.Second {
		t.Fatalf("refreshed after %s, want about 2s", gap)
	}
}

// The token endpoint refusing the client is unauthenticated: the caller's
// configuration, not a failing backend.
func TestOAuth2RefusedClientIsUnauthenticated(t *testing.T) {
	ts := newTokenServer(t, "client-1", "right", 60)
	api, _ := protectedAPI(t, ts)
	for _, style := range []string{"header", "params", "auto"} {
		inst := open(t, api.URL, map[string]any{
			"oauth2_token_url": ts.URL, "oauth2_client_id": "client-1", "oauth2_client_secret": "wrong", "oauth2_auth_style": style,
		})
		_, err := invoke[result](t, inst, "fetch", map[string]any{"path": "/data"})
		if err == nil || kindOf(err) != "unauthenticated" {
			t.Fatalf("%s: %v, want unauthenticated", style, err)
		}
	}
}
