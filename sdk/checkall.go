package sdk

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/nebula-resource/nebula-resource/sdk/internal/proto/pluginv1"
)

// checkAllParallel bounds the checks CheckAll makes at once one by one:
// of instances in the caller's process, or of a plugin without CheckMany.
const checkAllParallel = 16

// CheckItem is one check for CheckAll: an instance, and how long its
// check may take.
type CheckItem struct {
	Instance Instance
	Timeout  time.Duration
}

// CheckAll checks the instance of each item within the item's timeout,
// and calls done with the item's index and the check's result as soon as
// that is known; it returns once every item has had its result. It is
// how a host health-checks many instances at once: the instances of one
// plugin go in one CheckMany call, whose results come back one by one,
// so that one slow backend holds up no other check and a thousand checks
// cost a plugin one call, not a thousand. Any other instance (of a driver in the caller's process, or of
// a plugin whose SDK has no CheckMany) is checked by its own Check, at
// most checkAllParallel at once.
//
// done may run on several goroutines at once; it should not block long,
// as the results after it wait for it.
func CheckAll(ctx context.Context, items []CheckItem, done func(i int, err error)) {
	var (
		plugins []*remoteClients
		batches [][]int // the indexes of plugins[k]'s instances
		alone   []int
	)
	for i, it := range items {
		ri, ok := it.Instance.(*remoteInstance)
		if !ok || ri.checkAlone.Load() {
			alone = append(alone, i)
			continue
		}
		k := 0
		for k < len(plugins) && plugins[k] != ri.remoteClients {
			k++
		}
		if k == len(plugins) {
			plugins, batches = append(plugins, ri.remoteClients), append(batches, nil)
		}
		batches[k] = append(batches[k], i)
	}
	var wg sync.WaitGroup
	for k, c := range plugins {
		wg.Go(func() { c.checkMany(ctx, items, batches[k], done) })
	}
	checkEach(ctx, items, alone, done)
	wg.Wait()
}

// checkEach checks items[i] for each i of idx by its own Check, at most
// checkAllParallel at once.
func checkEach(ctx context.Context, items []CheckItem, idx []int, done func(int, error)) {
	if len(idx) == 0 {
		return
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(len(idx), checkAllParallel) {
		wg.Go(func() {
			for i := range next {
				cctx, cancel := context.WithTimeout(ctx, items[i].Timeout)
				err := items[i].Instance.Check(cctx)
				cancel()
				done(i, err)
			}
		})
	}
	for _, i := range idx {
		next <- i
	}
	close(next)
	wg.Wait()
}

// checkMany checks items[i] for each i of idx, which are c's instances,
// in one CheckMany call, which lasts as long as the longest of their
// timeouts. A plugin without CheckMany gets its instances checked one by
// one, now and from then on.
func (c *remoteClients) checkMany(parent context.Context, items []CheckItem, idx []int, done func(int, error)) {
	req := &pb.CheckManyRequest{Checks: make([]*pb.CheckItem, len(idx))}
	var longest time.Duration
	for k, i := range idx {
		longest = max(longest, items[i].Timeout)
		req.Checks[k] = &pb.CheckItem{InstanceId: items[i].Instance.(*remoteInstance).id, TimeoutNs: int64(items[i].Timeout)}
	}
	ctx, cancel := context.WithTimeout(parent, longest)
	defer cancel()
	answered := make([]bool, len(idx))
	err := receiveChecks(ctx, c.client, req, func(r *pb.CheckManyResponse) {
		k := int(r.GetIndex())
		if k >= len(idx) || answered[k] {
			return // no check of this call: ignored, and the check it would be gets the error below
		}
		answered[k] = true
		var err error
		if d := r.GetError(); d != nil {
			err = errorFromDetail(d)
		}
		done(idx[k], err)
	})
	var left []int
	for k, i := range idx {
		if !answered[k] {
			left = append(left, i)
		}
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unimplemented && len(st.Details()) == 0 {
		c.checkAlone.Store(true)
		checkEach(parent, items, left, done)
		return
	}
	if err == nil {
		err = &Error{Kind: KindInternal, Message: "plugin: CheckMany ended without the result of this check"}
	} else {
		err = remoteError(ctx, err)
	}
	for _, i := range left {
		done(i, err)
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
