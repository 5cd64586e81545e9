// Package seats is a workflow step built on nebula-resource, small enough
// to read in a minute, and tested three ways (docs/testing.md):
//
//   - unit tests with package host/hosttest: an in-process host with the
//     memory driver, faults injected per resource (seats_test.go);
//   - an integration test against a real Redis through the real plugin
//     binary (integration_test.go);
//   - outage tests with package faults: the network between the host and
//     Redis slowed and cut by toxiproxy (outage_test.go).
//
// The step reserves seats for an event in a key-value resource of the
// host: memory in a test, Redis in production.
package seats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// ErrSoldOut means the event has fewer seats left than were asked for.
// The workflow should tell the customer, not retry.
var ErrSoldOut = errors.New("sold out")

// ErrTryLater means the seat store did not answer in time or is down.
// Nothing was reserved; the workflow engine should run the step again
// later.
var ErrTryLater = errors.New("the seat store is unavailable: try again later")

// Booker reserves seats.
type Booker struct {
	Host *host.Host
	// Resource is the key-value resource that counts the seats taken, for
	// example "redis.seats".
	Resource string
	// Capacity is how many seats each event has.
	Capacity int64
	// Timeout bounds one reservation. Zero means 2 s.
	Timeout time.Duration
}

// Reserve takes n seats of event for a booking, and returns how many
// seats of the event are taken with them. It fails with ErrSoldOut when
// fewer than n are left (taking none), and with ErrTryLater when the
// store cannot be reached; any other error is a bug of the caller's
// (an empty event name) or of the configuration.
func (b *Booker) Reserve(ctx context.Context, event string, n int64) (int64, error) {
	if event == "" || n <= 0 {
		return 0, fmt.Errorf("reserve %d seats of event %q: want an event name and a positive count", n, event)
	}
	timeout := b.Timeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var taken int64
	key := "seats:" + event
	err := host.Use(ctx, b.Host, b.Resource, func(l *host.Lease) error {
		var err error
		if taken, err = add(ctx, l, "incr", key, n); err != nil {
			return err
		}
		if taken <= b.Capacity {
			return nil
		}
		// Too many: give the seats back. (Should this decr fail, the seats
		// stay counted; a production step would use one atomic script.
		// The example stays short.)
		if _, err := add(ctx, l, "decr", key, n); err != nil {
			return err
		}
		return ErrSoldOut
	}, host.ForWorkflow("booking"), host.ForStep("reserve-seats"))
	switch {
	case err == nil:
		return taken, nil
	case errors.Is(err, ErrSoldOut):
		return 0, ErrSoldOut
	case errors.Is(err, sdk.ErrUnavailable), errors.Is(err, sdk.ErrTimeout):
		return 0, fmt.Errorf("%w (%v)", ErrTryLater, err)
	}
	return 0, fmt.Errorf("reserve %d seats of event %q: %w", n, event, err)
}

// add runs incr or decr and returns the key's new value.
func add(ctx context.Context, l *host.Lease, op, key string, by int64) (int64, error) {
	raw, err := l.Invoke(ctx, op, map[string]any{"key": key, "by": by})
	if err != nil {
		return 0, err
	}
	var res sdk.KVIncrResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return 0, fmt.Errorf("%s %s: %w", op, key, err)
	}
	return res.Value, nil
}
