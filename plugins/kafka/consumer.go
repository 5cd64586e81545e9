package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// maxPollRecords bounds poll's max_records, which bounds the size of one
// answer.
const maxPollRecords = 10000

// ConsumerResource is one configured "kafka_consumer" resource. Each
// instance it opens is one member of the resource's consumer group.
type ConsumerResource struct {
	*resource
	cfg  ConsumerConfig
	base []kgo.Opt
}

// Open creates a group member and checks that a broker answers. The member
// joins the group in the background; its first polls wait for the join.
func (r *ConsumerResource) Open(ctx context.Context) (sdk.Instance, error) {
	c := &ConsumerInstance{
		res:      r,
		assigned: map[topicPartition]struct{}{},
		pending:  map[topicPartition]handedOut{},
		dirty:    map[topicPartition]struct{}{},
	}
	cc := r.cfg
	start := kgo.NewOffset().AtStart()
	if cc.StartOffset == "latest" {
		start = kgo.NewOffset().AtEnd()
	}
	opts := append(slices.Clone(r.base),
		kgo.ConsumerGroup(cc.Group),
		kgo.ConsumeTopics(cc.Topics...),
		kgo.ConsumeResetOffset(start),
		kgo.SessionTimeout(cc.SessionTimeout),
		kgo.RebalanceTimeout(cc.RebalanceTimeout),
		// Rebalances wait while records handed out are not committed;
		// see the package documentation.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
	)
	if cc.Commit == "auto" {
		opts = append(opts, kgo.AutoCommitMarks(), kgo.AutoCommitInterval(cc.AutoCommitInterval))
	} else {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, sdk.Redact(err, r.secrets...), "configuring the kafka client of "+r.name)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, r.wrap(ctx, err, "connecting to the brokers of kafka resource "+r.name)
	}
	c.cl, c.adm = cl, kadm.NewClient(cl)
	if err := r.add(c); err != nil {
		cl.Close()
		return nil, err
	}
	return c, nil
}

type topicPartition struct {
	topic     string
	partition int32
}

func tpLess(a, b topicPartition) int {
	return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
}

// handedOut is what poll handed out of a partition since the last commit:
// from the offset of the first record to the offset after the last.
type handedOut struct {
	from int64
	next kgo.EpochOffset
}

// ConsumerInstance is one member of a consumer group: a kgo.Client with
// BlockRebalanceOnPoll. Its operations run one at a time.
type ConsumerInstance struct {
	res *ConsumerResource
	cl  *kgo.Client
	adm *kadm.Client

	// op serializes poll, commit, seek and reset, so that a commit never
	// races the poll whose records it commits. Close does not take it: it
	// must be able to end a poll that waits.
	op sync.Mutex

	// mu guards the fields below; the group's callbacks take it too.
	mu       sync.Mutex
	closed   bool
	assigned map[topicPartition]struct{}
	// pending holds, per partition, the records handed out and not yet
	// committed; commit {} commits their ends.
	pending map[topicPartition]handedOut
	// dirty holds the partitions whose position this member moved away
	// from the group's committed offset (by poll, seek or an explicit
	// commit); Reset moves them back.
	dirty map[topicPartition]struct{}
}

func (c *ConsumerInstance) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ps := range assigned {
		for _, p := range ps {
			c.assigned[topicPartition{t, p}] = struct{}{}
		}
	}
}

// onRevoked runs when partitions move to other members, only while no
// records handed out are held (BlockRebalanceOnPoll). In manual mode the
// uncommitted records of the revoked partitions are forgotten: the new
// owner reads them again from the committed offset. In auto mode the
// records of earlier polls (marked at each poll) are committed first.
func (c *ConsumerInstance) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if c.res.cfg.Commit == "auto" {
		if err := cl.CommitMarkedOffsets(ctx); err != nil {
			slog.Warn("kafka: committing before a rebalance failed; the new owners will read those records again", "resource", c.res.name, "group", c.res.cfg.Group, "error", sdk.Redact(err, c.res.secrets...))
		}
	}
	c.drop(revoked)
}

// onLost runs when the member lost its partitions without a clean
// rebalance (it was fenced, or the session expired): nothing can be
// committed for them any more.
func (c *ConsumerInstance) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.drop(lost)
}

func (c *ConsumerInstance) drop(partitions map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ps := range partitions {
		for _, p := range ps {
			tp := topicPartition{t, p}
			delete(c.assigned, tp)
			delete(c.pending, tp)
			delete(c.dirty, tp)
		}
	}
}

func (c *ConsumerInstance) closedError() error {
	return sdk.Errorf(sdk.KindFailedPrecondition, "kafka consumer of %s is closed", c.res.name)
}

// lockOp takes the operation lock, unless the member is closed.
func (c *ConsumerInstance) lockOp() error {
	c.op.Lock()
	if c.isClosed() {
		c.op.Unlock()
		return c.closedError()
	}
	return nil
}

func (c *ConsumerInstance) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// live fails when the member is closed.
func (c *ConsumerInstance) live() error {
	if c.isClosed() {
		return c.closedError()
	}
	return nil
}

// Check sends a metadata request (brokers only) to a broker.
func (c *ConsumerInstance) Check(ctx context.Context) error {
	if err := c.live(); err != nil {
		return err
	}
	return c.res.wrap(ctx, c.cl.Ping(ctx), "kafka check")
}

// offsetsLocked returns the ends of the records handed out. c.mu must be
// held.
func (c *ConsumerInstance) offsetsLocked() map[string]map[int32]kgo.EpochOffset {
	out := map[string]map[int32]kgo.EpochOffset{}
	for tp, h := range c.pending {
		if out[tp.topic] == nil {
			out[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		out[tp.topic][tp.partition] = h.next
	}
	return out
}

func (c *ConsumerInstance) poll(ctx context.Context, a sdk.StreamPollArgs) (sdk.StreamPollResult, error) {
	if a.MaxRecords < 1 || a.MaxRecords > maxPollRecords {
		return sdk.StreamPollResult{}, sdk.Errorf(sdk.KindInvalidArgument, "max_records must be from 1 to %d, not %d", maxPollRecords, a.MaxRecords)
	}
	if a.Timeout < 0 {
		return sdk.StreamPollResult{}, sdk.Errorf(sdk.KindInvalidArgument, "timeout must not be negative")
	}
	if err := c.lockOp(); err != nil {
		return sdk.StreamPollResult{}, err
	}
	defer c.op.Unlock()
	if c.res.cfg.Commit == "auto" {
		// Polling again acknowledges what the earlier polls handed out:
		// auto commit may commit it from now on.
		c.mu.Lock()
		offsets := c.offsetsLocked()
		c.mu.Unlock()
		c.cl.MarkCommitOffsets(offsets)
	}
	// Let a waiting rebalance through before more records are handed
	// out. Records handed out earlier and not committed stay pending,
	// unless their partitions move to another member, which then reads
	// them again.
	c.cl.AllowRebalance()

	var fetches kgo.Fetches
	if a.Timeout == 0 {
		var noWait context.Context // nil: PollRecords returns what is buffered at once
		fetches = c.cl.PollRecords(noWait, a.MaxRecords)
	} else {
		pctx, cancel := context.WithTimeout(ctx, a.Timeout)
		fetches = c.cl.PollRecords(pctx, a.MaxRecords)
		cancel()
	}

	var pollErr error
	fetches.EachError(func(topic string, partition int32, err error) {
		var gs *kgo.ErrGroupSession
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			// The poll's own timeout; the call's context is checked
			// below.
		case errors.As(err, &gs) && sdk.KindOf(c.res.wrap(ctx, gs.Err, "group session")) == sdk.KindUnavailable:
			// A transient failure to join or stay in the group, which
			// franz-go retries by itself: no reason to fail the call
			// (unavailable would have the host replace the member).
			slog.Warn("kafka: group session error; rejoining", "resource", c.res.name, "group", c.res.cfg.Group, "error", sdk.Redact(err, c.res.secrets...))
		case pollErr == nil:
			if topic != "" {
				err = fmt.Errorf("%s[%d]: %w", topic, partition, err)
			}
			pollErr = err
		}
	})
	records := fetches.Records()
	if len(records) > 0 && ctx.Err() != nil {
		// The caller is gone and would never see these records: put
		// them back rather than count them handed out, where a commit
		// could commit them unseen.
		back := map[string]map[int32]kgo.EpochOffset{}
		for _, r := range records {
			if back[r.Topic] == nil {
				back[r.Topic] = map[int32]kgo.EpochOffset{}
			}
			if _, ok := back[r.Topic][r.Partition]; !ok {
				back[r.Topic][r.Partition] = kgo.EpochOffset{Epoch: -1, Offset: r.Offset}
			}
		}
		c.cl.SetOffsets(back)
		records = nil
	}

	c.mu.Lock()
	closed := c.closed
	if !closed {
		for _, r := range records {
			tp := topicPartition{r.Topic, r.Partition}
			h, ok := c.pending[tp]
			if !ok {
				h.from = r.Offset
			}
			h.next = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
			c.pending[tp] = h
			c.dirty[tp] = struct{}{}
		}
	}
	c.mu.Unlock()
	if closed || len(records) == 0 {
		// Nothing handed out: nothing to block rebalances for.
		c.cl.AllowRebalance()
	}
	switch {
	case closed:
		return sdk.StreamPollResult{}, c.closedError()
	case len(records) == 0 && ctx.Err() != nil:
		return sdk.StreamPollResult{}, sdk.WrapError(sdk.KindOf(ctx.Err()), ctx.Err(), "poll")
	case len(records) == 0 && pollErr != nil:
		return sdk.StreamPollResult{}, c.res.wrap(ctx, pollErr, "polling kafka")
	case pollErr != nil:
		// The records are handed out; the error would be lost with
		// them if it failed the call.
		slog.Warn("kafka: poll returned records and an error", "resource", c.res.name, "error", sdk.Redact(pollErr, c.res.secrets...))
	}
	out := sdk.StreamPollResult{Records: make([]sdk.StreamRecord, len(records))}
	for i, r := range records {
		sr := sdk.StreamRecord{
			Topic:     r.Topic,
			Partition: r.Partition,
			Offset:    r.Offset,
			Key:       string(r.Key),
			Value:     string(r.Value),
			Timestamp: r.Timestamp.UTC(),
		}
		if len(r.Headers) > 0 {
			sr.Headers = make(map[string]string, len(r.Headers))
			for _, h := range r.Headers {
				sr.Headers[h.Key] = string(h.Value)
			}
		}
		out.Records[i] = sr
	}
	return out, nil
}

func (c *ConsumerInstance) commit(ctx context.Context, a sdk.StreamCommitArgs) (sdk.StreamCommitResult, error) {
	explicit := len(a.Topics) > 0 || len(a.Partitions) > 0 || len(a.Offsets) > 0
	if err := c.lockOp(); err != nil {
		return sdk.StreamCommitResult{}, err
	}
	defer c.op.Unlock()

	var offsets map[string]map[int32]kgo.EpochOffset
	if explicit {
		if len(a.Topics) != len(a.Partitions) || len(a.Topics) != len(a.Offsets) {
			return sdk.StreamCommitResult{}, sdk.Errorf(sdk.KindInvalidArgument, "topics, partitions and offsets must have the same length (%d, %d, %d)", len(a.Topics), len(a.Partitions), len(a.Offsets))
		}
		offsets = map[string]map[int32]kgo.EpochOffset{}
		c.mu.Lock()
		for i, t := range a.Topics {
			tp := topicPartition{t, a.Partitions[i]}
			if a.Offsets[i] < 0 {
				c.mu.Unlock()
				return sdk.StreamCommitResult{}, sdk.Errorf(sdk.KindInvalidArgument, "offsets[%d] is %d: a committed offset is a record's offset, 0 or more", i, a.Offsets[i])
			}
			if _, ok := c.assigned[tp]; !ok {
				c.mu.Unlock()
				return sdk.StreamCommitResult{}, sdk.Errorf(sdk.KindFailedPrecondition, "%s[%d] is not assigned to this member; a member commits only its own partitions", t, tp.partition)
			}
			if offsets[t] == nil {
				offsets[t] = map[int32]kgo.EpochOffset{}
			}
			offsets[t][tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: a.Offsets[i]}
		}
		c.mu.Unlock()
	} else {
		c.mu.Lock()
		offsets = c.offsetsLocked()
		c.mu.Unlock()
	}
	if len(offsets) == 0 {
		c.cl.AllowRebalance()
		return sdk.StreamCommitResult{Committed: []sdk.StreamOffset{}}, nil
	}

	if c.res.cfg.Commit == "auto" {
		// Mark first, so that the background commit never commits an
		// older mark over this commit. (Marks only move forward: an
		// explicit position behind them is overridden by the next
		// background commit.)
		c.cl.MarkCommitOffsets(offsets)
	}
	var committed []sdk.StreamOffset
	var failed []error
	c.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			failed = append(failed, err)
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					failed = append(failed, fmt.Errorf("%s[%d]: %w", t.Topic, p.Partition, err))
					continue
				}
				if eo, ok := offsets[t.Topic][p.Partition]; ok {
					committed = append(committed, sdk.StreamOffset{Topic: t.Topic, Partition: p.Partition, Offset: eo.Offset})
				}
			}
		}
	})
	c.mu.Lock()
	for _, o := range committed {
		tp := topicPartition{o.Topic, o.Partition}
		if h, ok := c.pending[tp]; ok && o.Offset >= h.next.Offset {
			delete(c.pending, tp)
			if o.Offset == h.next.Offset {
				delete(c.dirty, tp)
			}
		} else if explicit {
			c.dirty[tp] = struct{}{}
		}
	}
	c.mu.Unlock()
	slices.SortFunc(committed, func(a, b sdk.StreamOffset) int {
		return tpLess(topicPartition{a.Topic, a.Partition}, topicPartition{b.Topic, b.Partition})
	})

	if len(failed) > 0 {
		err := c.res.wrap(ctx, failed[0], fmt.Sprintf("committing to group %s: %d of %d positions failed", c.res.cfg.Group, len(failed), len(failed)+len(committed)))
		// A retryable failure keeps rebalances blocked, so that a retry
		// can still commit records this member owns.
		if !sdk.IsRetryable(err) {
			c.cl.AllowRebalance()
		}
		return sdk.StreamCommitResult{}, err
	}
	c.cl.AllowRebalance()
	if committed == nil {
		committed = []sdk.StreamOffset{}
	}
	return sdk.StreamCommitResult{Committed: committed}, nil
}

func (c *ConsumerInstance) seek(ctx context.Context, a sdk.StreamSeekArgs) (sdk.StreamSeekResult, error) {
	if a.Offset < sdk.StreamOffsetStart {
		return sdk.StreamSeekResult{}, sdk.Errorf(sdk.KindInvalidArgument, "offset %d: want an offset, -1 (end) or -2 (start)", a.Offset)
	}
	if err := c.lockOp(); err != nil {
		return sdk.StreamSeekResult{}, err
	}
	defer c.op.Unlock()
	tp := topicPartition{a.Topic, a.Partition}
	c.mu.Lock()
	_, ok := c.assigned[tp]
	c.mu.Unlock()
	if !ok {
		return sdk.StreamSeekResult{}, sdk.Errorf(sdk.KindFailedPrecondition, "%s[%d] is not assigned to this member; ask assignment for the member's partitions", a.Topic, a.Partition)
	}
	offset := a.Offset
	if offset < 0 {
		list := c.adm.ListEndOffsets
		if offset == sdk.StreamOffsetStart {
			list = c.adm.ListStartOffsets
		}
		listed, err := list(ctx, a.Topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return sdk.StreamSeekResult{}, c.res.wrap(ctx, err, "listing the offsets of "+a.Topic)
		}
		lo, ok := listed.Lookup(a.Topic, a.Partition)
		if !ok {
			return sdk.StreamSeekResult{}, sdk.Errorf(sdk.KindNotFound, "%s[%d] does not exist", a.Topic, a.Partition)
		}
		offset = lo.Offset
	}
	c.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{a.Topic: {a.Partition: {Epoch: -1, Offset: offset}}})
	c.mu.Lock()
	delete(c.pending, tp)
	c.dirty[tp] = struct{}{}
	c.mu.Unlock()
	return sdk.StreamSeekResult{Topic: a.Topic, Partition: a.Partition, Offset: offset}, nil
}

func (c *ConsumerInstance) lag(ctx context.Context, _ sdk.StreamNoArgs) (sdk.StreamLagResult, error) {
	cc := c.res.cfg
	ends, err := c.adm.ListEndOffsets(ctx, cc.Topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return sdk.StreamLagResult{}, c.res.wrap(ctx, err, "listing the end offsets of "+fmt.Sprint(cc.Topics))
	}
	var starts kadm.ListedOffsets
	if cc.StartOffset == "earliest" {
		if starts, err = c.adm.ListStartOffsets(ctx, cc.Topics...); err == nil {
			err = starts.Error()
		}
		if err != nil {
			return sdk.StreamLagResult{}, c.res.wrap(ctx, err, "listing the start offsets of "+fmt.Sprint(cc.Topics))
		}
	}
	committed, err := c.adm.FetchOffsetsForTopics(ctx, cc.Group, cc.Topics...)
	if errors.Is(err, kerr.GroupIDNotFound) {
		// A group that never committed may not exist yet.
		committed, err = nil, nil
	}
	if err != nil {
		return sdk.StreamLagResult{}, c.res.wrap(ctx, err, "fetching the committed offsets of group "+cc.Group)
	}
	out := sdk.StreamLagResult{Partitions: []sdk.StreamPartitionLag{}}
	ends.Each(func(lo kadm.ListedOffset) {
		pl := sdk.StreamPartitionLag{Topic: lo.Topic, Partition: lo.Partition, Committed: -1, End: lo.Offset}
		if o, ok := committed.Lookup(lo.Topic, lo.Partition); ok && o.Err == nil && o.At >= 0 {
			pl.Committed = o.At
		}
		switch {
		case pl.Committed >= 0:
			pl.Lag = pl.End - pl.Committed
		case cc.StartOffset == "earliest":
			pl.Lag = pl.End
			if so, ok := starts.Lookup(lo.Topic, lo.Partition); ok {
				pl.Lag = pl.End - so.Offset
			}
		}
		pl.Lag = max(pl.Lag, 0)
		out.Total += pl.Lag
		out.Partitions = append(out.Partitions, pl)
	})
	slices.SortFunc(out.Partitions, func(a, b sdk.StreamPartitionLag) int {
		return tpLess(topicPartition{a.Topic, a.Partition}, topicPartition{b.Topic, b.Partition})
	})
	return out, nil
}

// AssignmentResult is the result of the assignment operation.
type AssignmentResult struct {
	MemberID   string      `json:"member_id"`
	Generation int32       `json:"generation"`
	Partitions []Partition `json:"partitions"`
}

// Partition names one partition of a topic.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

func (c *ConsumerInstance) assignment(_ context.Context, _ sdk.StreamNoArgs) (AssignmentResult, error) {
	member, gen := c.cl.GroupMetadata()
	out := AssignmentResult{MemberID: member, Generation: gen, Partitions: []Partition{}}
	c.mu.Lock()
	tps := make([]topicPartition, 0, len(c.assigned))
	for tp := range c.assigned {
		tps = append(tps, tp)
	}
	c.mu.Unlock()
	slices.SortFunc(tps, tpLess)
	for _, tp := range tps {
		out.Partitions = append(out.Partitions, Partition{tp.topic, tp.partition})
	}
	return out, nil
}

// Reset ends a lease and keeps the membership. Every partition whose
// position the lease moved away from the group's committed offset (by poll,
// seek or an explicit commit) is moved back to it, so that the next lease
// is handed the records this one did not commit; where the group has no
// committed offset, back to the first record this lease was handed. In
// auto mode the records of the lease's earlier polls are committed first.
// Then rebalances may proceed. A Reset that fails leaves the host to close
// the instance, which leaves the group; the records then go to another
// member.
func (c *ConsumerInstance) Reset(ctx context.Context) error {
	if err := c.lockOp(); err != nil {
		return err
	}
	defer c.op.Unlock()
	if c.res.cfg.Commit == "auto" {
		if err := c.cl.CommitMarkedOffsets(ctx); err != nil {
			return c.res.wrap(ctx, err, "reset: committing the records of earlier polls")
		}
	}
	c.mu.Lock()
	dirty := make(map[topicPartition]handedOut, len(c.dirty))
	for tp := range c.dirty {
		h, ok := c.pending[tp]
		if !ok {
			h = handedOut{from: -1, next: kgo.EpochOffset{Epoch: -1, Offset: -1}}
		}
		dirty[tp] = h
	}
	c.mu.Unlock()
	if len(dirty) > 0 {
		committed, err := c.adm.FetchOffsets(ctx, c.res.cfg.Group)
		if err == nil {
			err = committed.Error()
		}
		if errors.Is(err, kerr.GroupIDNotFound) {
			committed, err = nil, nil // nothing committed yet
		}
		if err != nil {
			return c.res.wrap(ctx, err, "reset: fetching the committed offsets of group "+c.res.cfg.Group)
		}
		set := map[string]map[int32]kgo.EpochOffset{}
		for tp, h := range dirty {
			target := h.from
			if o, ok := committed.Lookup(tp.topic, tp.partition); ok && o.At >= 0 {
				target = o.At
			}
			if target < 0 || target == h.next.Offset {
				continue // nowhere known to go back to, or nothing to go back over
			}
			if set[tp.topic] == nil {
				set[tp.topic] = map[int32]kgo.EpochOffset{}
			}
			set[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: -1, Offset: target}
		}
		// Partitions no longer assigned are skipped.
		c.cl.SetOffsets(set)
	}
	c.mu.Lock()
	clear(c.pending)
	clear(c.dirty)
	c.mu.Unlock()
	c.cl.AllowRebalance()
	return nil
}

// Close leaves the group, so that the group gives the member's partitions
// to the others at once rather than after session_timeout, and closes the
// client. Records handed out and not committed are read again by the
// partitions' next owner. Close does not wait for a running poll: the poll
// ends with the client.
func (c *ConsumerInstance) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	// Set closed first: a poll that returns records after this sees it
	// and allows rebalancing itself; one that returned before is
	// released here. Leaving waits until no poll blocks rebalancing.
	c.cl.AllowRebalance()
	err := c.cl.LeaveGroupContext(ctx)
	c.cl.Close()
	c.res.remove(c)
	if err != nil && ctx.Err() == nil {
		return c.res.wrap(ctx, err, "leaving group "+c.res.cfg.Group)
	}
	return nil
}

// Interface guards.
var (
	_ sdk.Instance = (*ConsumerInstance)(nil)
	_ sdk.Resetter = (*ConsumerInstance)(nil)
)
