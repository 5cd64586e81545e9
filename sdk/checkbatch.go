package sdk

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// checkWindow is how long a health check made while another call is in
// flight, or soon after one was made, waits for others to go with it. A
// host's checks fall due together (the host aligns them to whole seconds,
// and runs a bounded number at once), so that a thousand resources make a
// few calls a second instead of a thousand, which is most of what an idle
// host and its plugins cost. A check made while no call is in flight, and
// none was made or ended within checkWindow, goes at once.
const checkWindow = time.Millisecond

// checkBatcher sends the health checks of a plugin's instances. A check
// made while none is in flight, and none was made or ended within
// checkWindow, goes at once, as a Check call. Any other opens a batch, or joins the
// open one; the
// batch goes checkWindow after it opened, as one CheckMany call, whose
// results come back one by one as each is known, so that a slow backend
// holds up no other check.
type checkBatcher struct {
	client pb.DriverServiceClient
	// single is set when the plugin has no CheckMany (an SDK older than
	// it): every check is then a Check call.
	single atomic.Bool

	mu       sync.Mutex
	inflight int             // calls in flight
	open     []*pendingCheck // the batch collecting checks, nil when none is
	last     time.Time       // when the last check was made or the last call ended
}

// pendingCheck is one check waiting in a batch.
type pendingCheck struct {
	ctx  context.Context
	id   string
	done chan error // buffered: the result, sent once
}

// errCheckAlone tells the checks of a batch that the plugin has no
// CheckMany, so that each checks by itself.
var errCheckAlone = errors.New("sdk: check alone")

func (b *checkBatcher) check(ctx context.Context, id string) error {
	if b.single.Load() {
		return b.checkOne(ctx, id)
	}
	b.mu.Lock()
	now := time.Now()
	quiet := now.Sub(b.last) > checkWindow
	b.last = now
	if b.inflight == 0 && b.open == nil && quiet {
		b.inflight++
		b.mu.Unlock()
		defer b.ended()
		return b.checkOne(ctx, id)
	}
	p := &pendingCheck{ctx: ctx, id: id, done: make(chan error, 1)}
	if b.open == nil {
		// The batch's call runs on the timer's goroutine, which lives
		// only as long as the checks in it: the call ends when each has
		// its result or its context has ended.
		time.AfterFunc(checkWindow, b.flush)
	}
	b.open = append(b.open, p)
	b.mu.Unlock()
	select {
	case err := <-p.done:
		if errors.Is(err, errCheckAlone) {
			return b.checkOne(ctx, id)
		}
		return err
	case <-ctx.Done():
		return remoteError(ctx, ctx.Err())
	}
}

func (b *checkBatcher) ended() {
	b.mu.Lock()
	b.inflight--
	b.last = time.Now()
	b.mu.Unlock()
}

func (b *checkBatcher) checkOne(ctx context.Context, id string) error {
	_, err := b.client.Check(ctx, &pb.CheckRequest{InstanceId: id})
	return remoteError(ctx, err)
}

// flush closes the open batch and sends it.
func (b *checkBatcher) flush() {
	b.mu.Lock()
	batch := b.open
	b.open = nil
	b.inflight++
	b.mu.Unlock()
	defer b.ended()
	if len(batch) == 1 {
		p := batch[0]
		p.done <- b.checkOne(p.ctx, p.id)
		return
	}
	b.send(batch)
}

// send makes one CheckMany call for batch and gives each check its result.
// The call ends at the latest deadline among the checks, or once every
// check's context has ended; the plugin bounds each check by its own.
func (b *checkBatcher) send(batch []*pendingCheck) {
	ctx, cancel := batchContext(batch)
	defer cancel()
	req := &pb.CheckManyRequest{Checks: make([]*pb.CheckItem, len(batch))}
	now := time.Now()
	for i, p := range batch {
		req.Checks[i] = &pb.CheckItem{InstanceId: p.id}
		if d, ok := p.ctx.Deadline(); ok {
			req.Checks[i].TimeoutNs = max(int64(d.Sub(now)), 1)
		}
	}
	answered := make([]bool, len(batch))
	err := receiveChecks(ctx, b.client, req, func(r *pb.CheckManyResponse) {
		i := int(r.GetIndex())
		if i >= len(batch) || answered[i] {
			return // no check of this batch: ignored, and the check it would be gets the error below
		}
		answered[i] = true
		var err error
		if d := r.GetError(); d != nil {
			err = errorFromDetail(d)
		}
		batch[i].done <- err
	})
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unimplemented && len(st.Details()) == 0 {
		b.single.Store(true)
		err = errCheckAlone
	} else if err == nil {
		err = &Error{Kind: KindInternal, Message: "plugin: CheckMany ended without the result of this check"}
	}
	for i, p := range batch {
		if answered[i] {
			continue
		}
		if errors.Is(err, errCheckAlone) {
			p.done <- err
		} else {
			p.done <- remoteError(p.ctx, err)
		}
	}
}

// receiveChecks makes a CheckMany call and hands each response to each.
func receiveChecks(ctx context.Context, client pb.DriverServiceClient, req *pb.CheckManyRequest, each func(*pb.CheckManyResponse)) error {
	stream, err := client.CheckMany(ctx, req)
	if err != nil {
		return err
	}
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		each(r)
	}
}

// batchContext is the context of a batch's call: it carries no values of
// any one check's context, ends at the latest of their deadlines (never,
// if one has none), and is canceled once every check's context has ended.
func batchContext(batch []*pendingCheck) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, p := range batch {
		d, ok := p.ctx.Deadline()
		if !ok {
			latest = time.Time{}
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	if !latest.IsZero() {
		ctx, cancel = context.WithDeadline(context.Background(), latest)
	}
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, p := range batch {
		stops[i] = context.AfterFunc(p.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
