package credential

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Value is a credential's value.
type Value struct {
	// Attrs maps each attribute's name to its value; never nil once
	// fetched. The map is the caller's own.
	Attrs map[string]string
	// Expires is when the value stops being valid; zero means never.
	Expires time.Time
	// Version is 1 for the first value and grows by one each time Attrs
	// change; a fetch that finds the same Attrs keeps it.
	Version uint64
	// FetchedAt is when the value was last fetched.
	FetchedAt time.Time
}

// Options are the host's settings of a Store.
type Options struct {
	// Logger receives the store's warnings (failed refreshes) and notices
	// (changed values); nil means slog.Default(). No record holds a value.
	Logger *slog.Logger
	// LookupEnv reads the host's environment variables for the env
	// source; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Secret, if not nil, is called with every attribute value that is
	// not empty before the value is stored, returned or reported
	// anywhere, so that the host can mask it everywhere: with all of a
	// credential's values at its first fetch and each time they change.
	// It is called from the store's goroutines, concurrently for
	// different credentials, with no lock held; it may call Get, and must
	// not call Close.
	Secret func(values ...string)
	// OnChange, if not nil, is called with a credential's name after its
	// Attrs changed (not when only its expiry moved), so that the host
	// can reopen the connections that use it. It is called from the
	// store's own goroutine, never with a lock held, and one call at a
	// time: it should return promptly, and must not call Close. Changes
	// that come while a call for the same credential is waiting make one
	// call.
	OnChange func(name string)
}

// States of a credential, in Status.State.
const (
	// StateOK means the last fetch succeeded and its value is valid.
	StateOK = "ok"
	// StateStale means the last refresh failed and the last good value,
	// still valid, is used.
	StateStale = "stale"
	// StateExpired means the value expired and no newer one was fetched.
	StateExpired = "expired"
	// StatePending means no value has been fetched: Start has not
	// completed, or failed.
	StatePending = "pending"
)

// Status is what the store reports of one credential. It holds no value.
type Status struct {
	// Name is the credential's name; Source its source.
	Name, Source string
	// State is StateOK, StateStale, StateExpired or StatePending.
	State string
	// Version, Expires and FetchedAt are those of the current Value.
	Version   uint64
	Expires   time.Time
	FetchedAt time.Time
	// LastError is the last fetch's failure; "" when the last fetch
	// succeeded.
	LastError string
	// Refreshes counts the successful fetches after the first one;
	// Failures the failed fetches, the first one included.
	Refreshes, Failures uint64
}

// phase is where a Store stands in its lifecycle.
type phase int

const (
	phaseNew phase = iota
	phaseStarting
	phaseStarted
	phaseClosed
)

// Store holds the values of the host's credentials and keeps them
// current. Its methods are safe for concurrent use.
//
// Lock order: a credential's mu before the store's mu.
type Store struct {
	log       *slog.Logger
	lookupEnv func(string) (string, bool)
	secret    func(values ...string)
	notes     *notifier // nil when Options.OnChange is nil

	creds map[string]*cred
	order []*cred // sorted by name

	// ctx is the store's lifetime: Close cancels it, which stops every
	// goroutine and kills a command still running.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// wg counts every goroutine the store starts: watchers, refreshers,
	// the notifier and the fetches themselves.
	wg sync.WaitGroup

	mu    sync.Mutex // guards phase, and adding to wg once closed; never held during I/O
	phase phase
}

// cred is one credential of a store.
type cred struct {
	spec Spec   // with its defaults filled in
	path string // exec: Command[0] resolved in PATH
	// kick wakes the exec refresher when a fetch ended, to schedule the
	// next one afresh. Buffered 1.
	kick chan struct{}

	// mu guards the fields below; never held during a fetch, nor while
	// Secret or OnChange runs. Only the credential's one fetch in flight
	// writes val.
	mu         sync.Mutex
	val        Value       // Attrs nil until the first successful fetch
	flight     *flight     // the fetch in progress; nil when none
	lastErr    string      // the last fetch's failure; "" after a success
	lastLogged string      // the last failure logged, for file to log each once
	streak     int         // failures in a row
	retryAt    time.Time   // when a failed refresh is tried again
	info       os.FileInfo // file: the file as the last fetch found it
	refreshes  uint64
	failures   uint64
}

// flight is one fetch of a credential, shared by all who want it.
type flight struct {
	done chan struct{} // closed when the fetch ended, with val or err set
	val  Value
	err  error
}

// New validates specs and returns a Store for them; it starts nothing.
// The error lists every problem, each naming the credential and the field
// (a *SpecError): an unknown source, a missing path, command or variables,
// a field the source does not use, a command not found in PATH, two blocks
// with one name.
func New(specs []Spec, o Options) (*Store, error) {
	var errs []error
	paths := make([]string, len(specs))
	seen := make(map[string]bool, len(specs))
	for i, sp := range specs {
		p, es := sp.validate()
		paths[i] = p
		errs = append(errs, es...)
		if sp.Name != "" && seen[sp.Name] {
			errs = append(errs, &SpecError{Name: sp.Name, Problem: "defined twice; give each credential block a name of its own"})
		}
		seen[sp.Name] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s := &Store{
		log:       o.Logger,
		lookupEnv: o.LookupEnv,
		secret:    o.Secret,
		creds:     make(map[string]*cred, len(specs)),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.lookupEnv == nil {
		s.lookupEnv = os.LookupEnv
	}
	if s.secret == nil {
		s.secret = func(...string) {}
	}
	if o.OnChange != nil {
		s.notes = newNotifier(o.OnChange)
	}
	for i, sp := range specs {
		sp.Vars = maps.Clone(sp.Vars)
		sp.Command = slices.Clone(sp.Command)
		if sp.Source == SourceFile && sp.Format == "" {
			sp.Format = FormatJSON
		}
		if sp.Source == SourceFile && sp.PollInterval == 0 {
			sp.PollInterval = defaultPollInterval
		}
		if sp.Source == SourceExec && sp.Timeout == 0 {
			sp.Timeout = defaultTimeout
		}
		c := &cred{spec: sp, path: paths[i], kick: make(chan struct{}, 1)}
		s.creds[sp.Name] = c
		s.order = append(s.order, c)
	}
	slices.SortFunc(s.order, func(a, b *cred) int { return strings.Compare(a.spec.Name, b.spec.Name) })
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	return s, nil
}

// Start fetches every credential once, in parallel, and then starts
// keeping them current: a goroutine polls each file credential, and one
// runs each exec credential again before its value expires. ctx bounds
// the first fetches.
//
// If a fetch fails, Start returns one error naming each credential that
// failed and why (*FetchError values joined), and closes the store:
// nothing keeps running, and Status still tells what failed. Start may be
// called once.
func (s *Store) Start(ctx context.Context) error {
	s.mu.Lock()
	switch s.phase {
	case phaseNew:
		s.phase = phaseStarting
	case phaseClosed:
		s.mu.Unlock()
		return fmt.Errorf("credential: Start: %w", ErrClosed)
	default:
		s.mu.Unlock()
		return errors.New("credential: Start called twice")
	}
	s.mu.Unlock()

	flights := make([]*flight, len(s.order))
	for i, c := range s.order {
		c.mu.Lock()
		flights[i] = s.flightLocked(c)
		c.mu.Unlock()
	}
	var errs []error
	interrupted := false
	for _, f := range flights {
		if f == nil {
			continue // closed meanwhile; reported below
		}
		if !interrupted {
			select {
			case <-f.done:
			case <-ctx.Done():
				// Close kills the fetches still running and waits for
				// them, so every flight is done after it.
				interrupted = true
				s.shutdown(fmt.Errorf("the context of Start ended: %w", context.Cause(ctx)))
				errs = append(errs, fmt.Errorf("credential: Start: the first fetches were interrupted: %w", context.Cause(ctx)))
			}
		}
		<-f.done
		if f.err != nil {
			errs = append(errs, f.err)
		}
	}
	if len(errs) > 0 {
		s.Close()
		return errors.Join(errs...)
	}

	s.mu.Lock()
	if s.phase == phaseClosed {
		s.mu.Unlock()
		return fmt.Errorf("credential: Start: %w during Start", ErrClosed)
	}
	s.phase = phaseStarted
	s.mu.Unlock()
	if s.notes != nil {
		s.spawn(func() { s.notes.run(s.ctx) })
	}
	for _, c := range s.order {
		switch c.spec.Source {
		case SourceFile:
			s.spawn(func() { s.watchFile(c) })
		case SourceExec:
			s.spawn(func() { s.refreshExec(c) })
		}
	}
	return nil
}

// Get returns the current value of the credential name. It fails with
// ErrUnknown for a name no block has, with ErrNotStarted when Start has not
// completed or failed, and with an *ExpiredError (ErrExpired) when the value expired
// and no newer one could be fetched.
func (s *Store) Get(name string) (Value, error) {
	c, err := s.lookup(name)
	if err != nil {
		return Value{}, err
	}
	c.mu.Lock()
	v, lastErr := c.val, c.lastErr
	c.mu.Unlock()
	if v.Attrs == nil {
		if lastErr != "" {
			return Value{}, fmt.Errorf("credential %q has no value (%w): its first fetch failed: %s", name, ErrNotStarted, lastErr)
		}
		return Value{}, fmt.Errorf("credential %q has no value yet: %w", name, ErrNotStarted)
	}
	if expired(v, time.Now()) {
		return Value{}, &ExpiredError{Name: name, Expired: v.Expires, LastError: lastErr}
	}
	v.Attrs = maps.Clone(v.Attrs)
	return v, nil
}

// Refresh fetches the credential name again, for when a backend refused
// its value, and returns the new value. seen is the Version the caller
// used: if the current Version is already greater (someone refreshed
// meanwhile) and has not expired, Refresh returns the current value at
// once without fetching.
// Concurrent callers share one fetch, and share it with a scheduled
// refresh in progress. A failed fetch returns its error (a *FetchError)
// and keeps the last good value. When ctx ends first, Refresh returns its
// error and the fetch goes on.
func (s *Store) Refresh(ctx context.Context, name string, seen uint64) (Value, error) {
	c, err := s.lookup(name)
	if err != nil {
		return Value{}, err
	}
	s.mu.Lock()
	ph := s.phase
	s.mu.Unlock()
	switch ph {
	case phaseClosed:
		return Value{}, fmt.Errorf("credential %q: refresh: %w", name, ErrClosed)
	case phaseNew, phaseStarting:
		return Value{}, fmt.Errorf("credential %q: refresh: %w", name, ErrNotStarted)
	}
	c.mu.Lock()
	if c.val.Version > seen && !expired(c.val, time.Now()) {
		v := c.val
		c.mu.Unlock()
		v.Attrs = maps.Clone(v.Attrs)
		return v, nil
	}
	f := s.flightLocked(c)
	c.mu.Unlock()
	if f == nil {
		return Value{}, fmt.Errorf("credential %q: refresh: %w", name, ErrClosed)
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return Value{}, fmt.Errorf("credential %q: waiting for its refresh: %w", name, context.Cause(ctx))
	}
	if f.err != nil {
		return Value{}, f.err
	}
	v := f.val
	v.Attrs = maps.Clone(v.Attrs)
	return v, nil
}

// Status reports every credential, sorted by name.
func (s *Store) Status() []Status {
	now := time.Now()
	out := make([]Status, 0, len(s.order))
	for _, c := range s.order {
		c.mu.Lock()
		st := Status{
			Name:      c.spec.Name,
			Source:    c.spec.Source,
			Version:   c.val.Version,
			Expires:   c.val.Expires,
			FetchedAt: c.val.FetchedAt,
			LastError: c.lastErr,
			Refreshes: c.refreshes,
			Failures:  c.failures,
		}
		switch {
		case c.val.Attrs == nil:
			st.State = StatePending
		case expired(c.val, now):
			st.State = StateExpired
		case c.lastErr != "":
			st.State = StateStale
		default:
			st.State = StateOK
		}
		c.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// Close stops every goroutine of the store, kills a command still running,
// and waits for all of them, an OnChange call in progress included. Values
// fetched stay readable with Get. It is safe to call more than once.
func (s *Store) Close() { s.shutdown(ErrClosed) }

// shutdown closes the store, giving cause to the fetches it kills.
func (s *Store) shutdown(cause error) {
	s.mu.Lock()
	s.phase = phaseClosed
	s.mu.Unlock()
	s.cancel(cause)
	s.wg.Wait()
}

// lookup returns the credential name, or an error wrapping ErrUnknown.
func (s *Store) lookup(name string) (*cred, error) {
	if c := s.creds[name]; c != nil {
		return c, nil
	}
	if len(s.order) == 0 {
		return nil, fmt.Errorf("%w %q: no credential block is configured", ErrUnknown, name)
	}
	names := make([]string, len(s.order))
	for i, c := range s.order {
		names[i] = c.spec.Name
	}
	return nil, fmt.Errorf("%w %q; the credentials are %s", ErrUnknown, name, strings.Join(names, ", "))
}

// spawn runs fn on a goroutine counted in s.wg, unless the store is
// closed; it reports whether it did.
func (s *Store) spawn(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase == phaseClosed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// flightLocked returns c's fetch in progress, starting one if there is
// none; nil when the store is closed. c.mu must be held.
func (s *Store) flightLocked(c *cred) *flight {
	if c.flight != nil {
		return c.flight
	}
	f := &flight{done: make(chan struct{})}
	// The fetch cannot end before c.flight is set: it takes c.mu to.
	if !s.spawn(func() { s.fetch(c, f) }) {
		return nil
	}
	c.flight = f
	return f
}

// fetch fetches c once, records the outcome, and ends f.
func (s *Store) fetch(c *cred, f *flight) {
	var (
		res  fetched
		info os.FileInfo
		err  error
	)
	switch c.spec.Source {
	case SourceEnv:
		res, err = readEnv(c.spec.Vars, s.lookupEnv)
	case SourceFile:
		res, info, err = readFile(c.spec.Path, c.spec.Format)
	case SourceExec:
		res, err = runExec(s.ctx, c.path, c.spec, c.knownValues)
	}
	now := time.Now()
	if err == nil && !res.expires.IsZero() && !res.expires.After(now) {
		err = fmt.Errorf("the value's stated expiration, %s, has already passed", res.expires.UTC().Format(time.RFC3339))
	}
	if err != nil {
		s.failed(c, f, err, info, now)
	} else {
		s.succeeded(c, f, res, info, now)
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// succeeded records a successful fetch of c and ends f.
func (s *Store) succeeded(c *cred, f *flight, res fetched, info os.FileInfo, now time.Time) {
	c.mu.Lock()
	cur := c.val.Attrs
	c.mu.Unlock()
	first := cur == nil
	changed := !first && !maps.Equal(cur, res.attrs)
	if first || changed {
		s.secret(secretValues(res.attrs)...)
	}

	c.mu.Lock()
	switch {
	case first:
		c.val.Version = 1
	case changed:
		c.val.Version++
		c.refreshes++
	default:
		c.refreshes++
	}
	c.val.Attrs, c.val.Expires, c.val.FetchedAt = res.attrs, res.expires, now
	recovered := !first && c.lastErr != ""
	c.lastErr, c.lastLogged, c.streak, c.retryAt = "", "", 0, time.Time{}
	c.info = info
	f.val = c.val
	version := c.val.Version
	c.flight = nil
	c.mu.Unlock()
	close(f.done)

	if recovered {
		s.log.Info("credential refreshed after failures", "credential", c.spec.Name, "source", c.spec.Source, "version", version)
	}
	if changed {
		s.log.Info("credential changed", "credential", c.spec.Name, "source", c.spec.Source, "version", version)
		if s.notes != nil {
			s.notes.add(c.spec.Name)
		}
	}
}

// failed records a failed fetch of c, keeping its last good value, and
// ends f.
func (s *Store) failed(c *cred, f *flight, err error, info os.FileInfo, now time.Time) {
	msg := err.Error()
	c.mu.Lock()
	c.failures++
	c.streak++
	c.lastErr = msg
	c.info = info
	c.retryAt = now.Add(retryDelay(c.streak))
	if exp := c.val.Expires; !exp.IsZero() && exp.After(now) && c.retryAt.After(exp) {
		c.retryAt = exp
	}
	v, retryAt := c.val, c.retryAt
	// A file is read again only when it changes, but each change may
	// bring the same fault back: it is logged once.
	logIt := v.Attrs != nil && (c.spec.Source != SourceFile || msg != c.lastLogged)
	c.lastLogged = msg
	f.err = &FetchError{Name: c.spec.Name, Source: c.spec.Source, Err: err}
	c.flight = nil
	c.mu.Unlock()
	close(f.done)

	// Without a value, this is the first fetch: Start reports it.
	if !logIt {
		return
	}
	attrs := []any{"credential", c.spec.Name, "source", c.spec.Source, "error", msg}
	if c.spec.Source == SourceExec && !v.Expires.IsZero() {
		attrs = append(attrs, "retry_at", retryAt)
	}
	switch {
	case v.Expires.IsZero():
		s.log.Warn("credential refresh failed; the last good value is kept", attrs...)
	case expired(v, now):
		s.log.Warn("credential refresh failed; its value has expired", append(attrs, "expired", v.Expires)...)
	default:
		s.log.Warn("credential refresh failed; the last good value is kept until it expires", append(attrs, "expires", v.Expires)...)
	}
}

// knownValues returns c's current attribute values, the ones a command's
// standard error must not show.
func (c *cred) knownValues() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return secretValues(c.val.Attrs)
}

// expired reports whether v has expired at now.
func expired(v Value, now time.Time) bool {
	return !v.Expires.IsZero() && !now.Before(v.Expires)
}
