package kafka_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/plugins/kafka"
	"github.com/nebula-resource/nebula-resource/sdk"
)

var commitAll = map[string]any{}

// consumeAll polls and, after "processing" each batch, commits it, until
// want distinct keys have arrived; then it polls a while longer to catch
// late duplicates. It fails on a duplicate key and returns the records by
// key.
func consumeAll(t *testing.T, c sdk.Instance, want int) map[string]sdk.StreamRecord {
	t.Helper()
	seen := map[string]sdk.StreamRecord{}
	deadline := time.Now().Add(60 * time.Second)
	for quiet := 0; len(seen) < want || quiet < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d distinct records, want %d", len(seen), want)
		}
		res := call[sdk.StreamPollResult](t, c, "poll", map[string]any{"max_records": 500, "timeout": "300ms"})
		if len(seen) >= want {
			quiet++
		}
		for _, r := range res.Records {
			if prev, dup := seen[r.Key]; dup {
				t.Fatalf("record %s delivered twice: %s[%d]@%d and %s[%d]@%d", r.Key, prev.Topic, prev.Partition, prev.Offset, r.Topic, r.Partition, r.Offset)
			}
			if r.Value != "value-"+r.Key {
				t.Fatalf("record %s has value %q", r.Key, r.Value)
			}
			seen[r.Key] = r
		}
		if len(res.Records) > 0 {
			com := call[sdk.StreamCommitResult](t, c, "commit", commitAll)
			if len(com.Committed) == 0 {
				t.Fatalf("commit after %d records committed nothing", len(res.Records))
			}
		}
	}
	return seen
}

// Acceptance (a): 10,000 records produced with acks = all are consumed by
// one group member, committing after processing each poll, exactly once:
// every key arrives, none twice, and nothing more arrives afterwards.
func TestAcceptanceAllRecordsConsumedExactlyOnce(t *testing.T) {
	const n = 10000
	topic := newTopic(t, 3)
	produceN(t, topic, n) // acks = "all" is the default
	c := open(t, consumerResource(t, newGroup(), topic, nil))
	seen := consumeAll(t, c, n)
	if len(seen) != n {
		t.Fatalf("consumed %d distinct records, want %d", len(seen), n)
	}
	for i := range n {
		if _, ok := seen[key(i)]; !ok {
			t.Fatalf("record %s never arrived", key(i))
		}
	}
	if lag := call[sdk.StreamLagResult](t, c, "lag", none{}); lag.Total != 0 {
		t.Fatalf("lag after consuming everything: %+v", lag)
	}
}

// Acceptance (b): two members of one group split the partitions: both get
// records, from disjoint partitions, no record goes to both, and together
// they get everything.
func TestAcceptanceTwoMembersSplitThePartitions(t *testing.T) {
	const n = 3000
	topic := newTopic(t, 3)
	res := consumerResource(t, newGroup(), topic, nil)
	a, b := open(t, res), open(t, res)
	waitAssigned(t, 3, a, b)
	produceN(t, topic, n)

	got := map[string]map[string]sdk.StreamRecord{"a": {}, "b": {}}
	members := map[string]sdk.Instance{"a": a, "b": b}
	deadline := time.Now().Add(60 * time.Second)
	for quiet := 0; len(got["a"])+len(got["b"]) < n || quiet < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: a has %d records, b %d; want %d in all", len(got["a"]), len(got["b"]), n)
		}
		if len(got["a"])+len(got["b"]) >= n {
			quiet++
		}
		for _, name := range []string{"a", "b"} {
			polled := call[sdk.StreamPollResult](t, members[name], "poll", map[string]any{"max_records": 200, "timeout": "100ms"})
			for _, r := range polled.Records {
				for _, m := range got {
					if prev, dup := m[r.Key]; dup {
						t.Fatalf("record %s delivered twice (to %s, earlier at %s[%d]@%d)", r.Key, name, prev.Topic, prev.Partition, prev.Offset)
					}
				}
				got[name][r.Key] = r
			}
			if len(polled.Records) > 0 {
				call[sdk.StreamCommitResult](t, members[name], "commit", commitAll)
			}
		}
	}
	partitions := map[string]map[int32]bool{"a": {}, "b": {}}
	for name, recs := range got {
		if len(recs) == 0 {
			t.Fatalf("member %s got no records: the partitions were not split", name)
		}
		for _, r := range recs {
			partitions[name][r.Partition] = true
		}
	}
	for p := range partitions["a"] {
		if partitions["b"][p] {
			t.Fatalf("both members read partition %d (a: %v, b: %v)", p, partitions["a"], partitions["b"])
		}
	}
	union := maps.Clone(got["a"])
	maps.Copy(union, got["b"])
	if len(union) != n {
		t.Fatalf("together the members got %d records, want %d", len(union), n)
	}
	t.Logf("member a: %d records from partitions %v; member b: %d from %v", len(got["a"]), slices.Sorted(maps.Keys(partitions["a"])), len(got["b"]), slices.Sorted(maps.Keys(partitions["b"])))
}

// Acceptance (c): a member that is closed before it commits leaves its
// records to the other member, which is handed them again (at least once),
// promptly: closing leaves the group, so the other member does not wait for
// the session timeout.
func TestAcceptanceClosedMembersRecordsGoToTheOtherMember(t *testing.T) {
	const n = 3000
	const sessionTimeout = 30 * time.Second
	topic := newTopic(t, 3)
	produceN(t, topic, n)
	res := consumerResource(t, newGroup(), topic, map[string]any{"session_timeout": sessionTimeout.String(), "rebalance_timeout": "30s"})

	a := open(t, res)
	handedToA := map[string]bool{}
	for _, r := range pollAtLeast(t, a, 1000) {
		handedToA[r.Key] = true
	}
	// b joins while a holds uncommitted records; a stops without
	// committing.
	b := open(t, res)
	closed := time.Now()
	if err := a.Close(t.Context()); err != nil {
		t.Fatalf("close a: %v", err)
	}
	var firstB time.Duration
	seenB := map[string]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(seenB) < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s b has %d of the %d records", len(seenB), n)
		}
		polled := call[sdk.StreamPollResult](t, b, "poll", map[string]any{"max_records": 1000, "timeout": "200ms"})
		if len(polled.Records) > 0 && firstB == 0 {
			firstB = time.Since(closed)
		}
		for _, r := range polled.Records {
			seenB[r.Key] = true
		}
		if len(polled.Records) > 0 {
			call[sdk.StreamCommitResult](t, b, "commit", commitAll)
		}
	}
	for k := range handedToA {
		if !seenB[k] {
			t.Fatalf("record %s, handed to a and never committed, was not redelivered to b", k)
		}
	}
	if firstB >= sessionTimeout/2 {
		t.Fatalf("b got its first records %v after a closed; the session timeout is %v: a did not leave the group", firstB, sessionTimeout)
	}
	if lag := call[sdk.StreamLagResult](t, b, "lag", none{}); lag.Total != 0 {
		t.Fatalf("lag after b committed everything: %+v", lag)
	}
	t.Logf("a was handed %d records and closed; b got records %v later and all %d in the end", len(handedToA), firstB.Round(time.Millisecond), len(seenB))
}

// Acceptance (d): lag counts the records not committed, polled or not, and
// reaches 0 once everything is committed, with committed equal to the end
// on every partition.
func TestAcceptanceLagReachesZeroAfterCommit(t *testing.T) {
	const n = 900
	topic := newTopic(t, 3)
	produceN(t, topic, n)
	c := open(t, consumerResource(t, newGroup(), topic, nil))

	lag := call[sdk.StreamLagResult](t, c, "lag", none{})
	var ends int64
	for _, p := range lag.Partitions {
		if p.Topic != topic || p.Committed != -1 {
			t.Fatalf("before any commit: %+v", p)
		}
		ends += p.End
	}
	if len(lag.Partitions) != 3 || lag.Total != n || ends != n {
		t.Fatalf("before any commit: %+v, want 3 partitions, total %d", lag, n)
	}
	pollAtLeast(t, c, n)
	if lag := call[sdk.StreamLagResult](t, c, "lag", none{}); lag.Total != n {
		t.Fatalf("polled but not committed: total lag %d, want %d", lag.Total, n)
	}
	com := call[sdk.StreamCommitResult](t, c, "commit", commitAll)
	var committed int64
	for _, o := range com.Committed {
		committed += o.Offset
	}
	if committed != n {
		t.Fatalf("commit committed %+v, want positions summing to %d", com.Committed, n)
	}
	lag = call[sdk.StreamLagResult](t, c, "lag", none{})
	if lag.Total != 0 {
		t.Fatalf("after commit: %+v", lag)
	}
	for _, p := range lag.Partitions {
		if p.Committed != p.End || p.Lag != 0 {
			t.Fatalf("after commit: %+v", p)
		}
	}
	// Committing again with nothing new handed out commits nothing.
	if again := call[sdk.StreamCommitResult](t, c, "commit", commitAll); len(again.Committed) != 0 {
		t.Fatalf("second commit: %+v", again)
	}
}

// Reset, at the end of a lease, keeps the membership and moves the member
// back to the committed offsets: the next lease is handed what the last
// one did not commit, and nothing that it did commit.
func TestResetRedeliversWhatTheLeaseDidNotCommit(t *testing.T) {
	topic := newTopic(t, 1)
	produceN(t, topic, 10)
	c := open(t, consumerResource(t, newGroup(), topic, nil))
	reset := func() {
		t.Helper()
		if err := c.(sdk.Resetter).Reset(t.Context()); err != nil {
			t.Fatalf("Reset: %v", err)
		}
	}
	member := call[kafka.AssignmentResult](t, c, "assignment", none{})

	first := pollAtLeast(t, c, 10)
	reset()
	again := pollAtLeast(t, c, 10)
	if offsets(again) != offsets(first) || again[0].Offset != 0 {
		t.Fatalf("after Reset without commit: %v, want %v again", offsets(again), offsets(first))
	}
	// Commit the first 4 explicitly: the next lease starts at 4.
	call[sdk.StreamCommitResult](t, c, "commit", map[string]any{"topics": []string{topic}, "partitions": []int{0}, "offsets": []int{4}})
	reset()
	if got := pollAtLeast(t, c, 6); got[0].Offset != 4 || len(got) != 6 {
		t.Fatalf("after committing 4 and Reset: %v", offsets(got))
	}
	call[sdk.StreamCommitResult](t, c, "commit", commitAll)
	reset()
	if got := call[sdk.StreamPollResult](t, c, "poll", map[string]any{"timeout": "500ms"}); len(got.Records) != 0 {
		t.Fatalf("after committing everything and Reset: %v", offsets(got.Records))
	}
	if after := call[kafka.AssignmentResult](t, c, "assignment", none{}); after.MemberID != member.MemberID && member.MemberID != "" {
		t.Fatalf("Reset changed the membership: %+v then %+v", member, after)
	}
}

func offsets(recs []sdk.StreamRecord) string {
	var out []int64
	for _, r := range recs {
		out = append(out, r.Offset)
	}
	return jsonOf(out)
}

// seek moves the position in an assigned partition (offsets, -2 for the
// start, -1 for the end); a partition the member does not own is
// failed_precondition.
func TestSeek(t *testing.T) {
	topic := newTopic(t, 1)
	produceN(t, topic, 10)
	c := open(t, consumerResource(t, newGroup(), topic, nil))
	pollAtLeast(t, c, 10)
	call[sdk.StreamCommitResult](t, c, "commit", commitAll)

	if s := call[sdk.StreamSeekResult](t, c, "seek", map[string]any{"topic": topic, "partition": 0, "offset": 3}); s.Offset != 3 {
		t.Fatalf("seek 3: %+v", s)
	}
	if got := pollAtLeast(t, c, 7); got[0].Offset != 3 {
		t.Fatalf("after seek 3: %v", offsets(got))
	}
	if s := call[sdk.StreamSeekResult](t, c, "seek", map[string]any{"topic": topic, "partition": 0, "offset": -2}); s.Offset != 0 {
		t.Fatalf("seek start: %+v", s)
	}
	if got := pollAtLeast(t, c, 10); got[0].Offset != 0 {
		t.Fatalf("after seek start: %v", offsets(got))
	}
	if s := call[sdk.StreamSeekResult](t, c, "seek", map[string]any{"topic": topic, "partition": 0, "offset": -1}); s.Offset != 10 {
		t.Fatalf("seek end: %+v", s)
	}
	if got := call[sdk.StreamPollResult](t, c, "poll", map[string]any{"timeout": "300ms"}); len(got.Records) != 0 {
		t.Fatalf("after seek end: %v", offsets(got.Records))
	}
	_, err := try[sdk.StreamSeekResult](t, c, "seek", map[string]any{"topic": topic, "partition": 5, "offset": 0})
	wantKind(t, err, sdk.KindFailedPrecondition)
	_, err = try[sdk.StreamSeekResult](t, c, "seek", map[string]any{"topic": "other", "partition": 0, "offset": 0})
	wantKind(t, err, sdk.KindFailedPrecondition)
	_, err = try[sdk.StreamSeekResult](t, c, "seek", map[string]any{"topic": topic, "partition": 0, "offset": -3})
	wantKind(t, err, sdk.KindInvalidArgument)
}

// commit with explicit positions commits them; positions that do not line
// up, negative offsets and partitions of other members are refused.
func TestCommitExplicitPositions(t *testing.T) {
	topic := newTopic(t, 2)
	produceN(t, topic, 100)
	c := open(t, consumerResource(t, newGroup(), topic, nil))
	waitAssigned(t, 2, c)
	com := call[sdk.StreamCommitResult](t, c, "commit", map[string]any{"topics": []string{topic, topic}, "partitions": []int{0, 1}, "offsets": []int{1, 2}})
	if len(com.Committed) != 2 || com.Committed[0].Offset != 1 || com.Committed[1].Offset != 2 {
		t.Fatalf("committed %+v", com)
	}
	lag := call[sdk.StreamLagResult](t, c, "lag", none{})
	if lag.Partitions[0].Committed != 1 || lag.Partitions[1].Committed != 2 || lag.Total != 97 {
		t.Fatalf("lag after explicit commit: %+v", lag)
	}
	for _, bad := range []struct {
		args map[string]any
		kind sdk.Kind
	}{
		{map[string]any{"topics": []string{topic}, "partitions": []int{0, 1}, "offsets": []int{1}}, sdk.KindInvalidArgument},
		{map[string]any{"topics": []string{topic}, "partitions": []int{0}, "offsets": []int{-1}}, sdk.KindInvalidArgument},
		{map[string]any{"topics": []string{topic}, "partitions": []int{9}, "offsets": []int{1}}, sdk.KindFailedPrecondition},
		{map[string]any{"topics": []string{"not-ours"}, "partitions": []int{0}, "offsets": []int{1}}, sdk.KindFailedPrecondition},
	} {
		_, err := try[sdk.StreamCommitResult](t, c, "commit", bad.args)
		wantKind(t, err, bad.kind)
	}
}

// In auto mode the records of a poll are committed in the background once
// the next poll starts, not before.
func TestAutoCommitCommitsWhatTheNextPollAcknowledges(t *testing.T) {
	topic := newTopic(t, 1)
	produceN(t, topic, 10)
	c := open(t, consumerResource(t, newGroup(), topic, map[string]any{"commit": "auto", "auto_commit_interval": "100ms"}))
	pollAtLeast(t, c, 10)
	time.Sleep(500 * time.Millisecond)
	if lag := call[sdk.StreamLagResult](t, c, "lag", none{}); lag.Partitions[0].Committed != -1 {
		t.Fatalf("auto mode committed records no later poll acknowledged: %+v", lag)
	}
	call[sdk.StreamPollResult](t, c, "poll", map[string]any{"timeout": "10ms"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		lag := call[sdk.StreamLagResult](t, c, "lag", none{})
		if lag.Total == 0 && lag.Partitions[0].Committed == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("auto commit did not commit the acknowledged records: %+v", lag)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// poll checks its arguments, and with timeout 0s returns at once.
func TestPollArguments(t *testing.T) {
	topic := newTopic(t, 1)
	c := open(t, consumerResource(t, newGroup(), topic, nil))
	for _, bad := range []map[string]any{{"max_records": 0}, {"max_records": 10001}, {"timeout": "-1s"}, {"max_records": "ten"}} {
		_, err := try[sdk.StreamPollResult](t, c, "poll", bad)
		wantKind(t, err, sdk.KindInvalidArgument)
	}
	start := time.Now()
	if got := call[sdk.StreamPollResult](t, c, "poll", map[string]any{"timeout": "0s"}); len(got.Records) != 0 {
		t.Fatalf("poll of an empty topic: %+v", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("poll with timeout 0s took %v", d)
	}
	start = time.Now()
	call[sdk.StreamPollResult](t, c, "poll", map[string]any{"timeout": "300ms"})
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("poll with timeout 300ms of an empty topic took %v", d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := do(ctx, c, "poll", []byte(`{"timeout":"10s"}`))
	wantKind(t, err, sdk.KindTimeout)
}

// A consumer of a topic that does not exist gets no records, and lag says
// not_found.
func TestConsumerOfMissingTopic(t *testing.T) {
	c := open(t, consumerResource(t, newGroup(), unique("nebula-missing-"), nil))
	if got := call[sdk.StreamPollResult](t, c, "poll", map[string]any{"timeout": "200ms"}); len(got.Records) != 0 {
		t.Fatalf("poll: %+v", got)
	}
	_, err := try[sdk.StreamLagResult](t, c, "lag", none{})
	wantKind(t, err, sdk.KindNotFound)
}

// Closing a member while a poll waits ends the poll (it fails rather than
// hangs) and returns promptly; so does closing the resource with members
// still open (in process, where the resource holds them).
func TestCloseDuringPoll(t *testing.T) {
	topic := newTopic(t, 1)
	res, err := kafka.New().Configure(t.Context(), sdk.ConfigureRequest{Type: kafka.ConsumerType, Name: "local",
		Config: configJSON(t, map[string]any{"group": newGroup(), "topics": []string{topic}})})
	if err != nil {
		t.Fatal(err)
	}
	member, err := res.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c := local(kafka.ConsumerType, member)
	if err := c.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	polled := make(chan error, 1)
	go func() {
		_, err := do(context.Background(), c, "poll", []byte(`{"timeout":"30s"}`))
		polled <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := c.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-polled:
		if err == nil {
			t.Fatal("the poll of a closed member succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the poll still waits 5s after Close")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}

	// Members left open are closed with the resource.
	left, err := res.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Close(t.Context()); err != nil {
		t.Fatalf("resource Close: %v", err)
	}
	_, err = do(t.Context(), local(kafka.ConsumerType, left), "lag", []byte(`{}`))
	wantKind(t, err, sdk.KindFailedPrecondition)
	if _, err := res.Open(t.Context()); err == nil {
		t.Fatal("Open on a closed resource succeeded")
	}
}

// In auto mode, a member that is closed commits what its polls
// acknowledged (the records of every poll but its last) as it leaves; the
// next owner is handed the rest, from the last poll on.
func TestAutoCommitCloseCommitsAcknowledgedRecords(t *testing.T) {
	topic := newTopic(t, 1)
	produceN(t, topic, 20)
	// No background commit during the test: only leaving commits.
	res := consumerResource(t, newGroup(), topic, map[string]any{"commit": "auto", "auto_commit_interval": "1h"})
	a := open(t, res)
	first := pollUpTo(t, a, 10)
	second := pollUpTo(t, a, 10) // acknowledges the first poll
	if first[0].Offset != 0 || second[0].Offset != 10 {
		t.Fatalf("polled %s then %s", offsets(first), offsets(second))
	}
	if err := a.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := open(t, res)
	if got := pollAtLeast(t, b, 10); got[0].Offset != 10 || len(got) != 10 {
		t.Fatalf("the next member got %s, want offsets 10 to 19", offsets(got))
	}
}

// pollUpTo polls with max_records n until it has n records.
func pollUpTo(t testing.TB, c sdk.Instance, n int) []sdk.StreamRecord {
	t.Helper()
	var out []sdk.StreamRecord
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("polled %d records in 30s, want %d", len(out), n)
		}
		res := call[sdk.StreamPollResult](t, c, "poll", map[string]any{"max_records": n - len(out), "timeout": "500ms"})
		out = append(out, res.Records...)
	}
	return out
}

// A member whose partition moves to another member in a rebalance (which
// happens at its next poll) forgets the records of that partition it had
// not committed: its commit never overwrites the new owner's, and the new
// owner is handed those records again.
func TestRebalanceDropsUncommittedRecordsOfMovedPartitions(t *testing.T) {
	topic := newTopic(t, 2)
	produceN(t, topic, 200)
	res := consumerResource(t, newGroup(), topic, nil)
	a := open(t, res)
	held := map[int32]bool{}
	for _, r := range pollAtLeast(t, a, 200) {
		held[r.Partition] = true
	}
	if len(held) != 2 {
		t.Fatalf("a was handed records of partitions %v, want both", held)
	}
	b := open(t, res)
	waitAssigned(t, 2, a, b) // a's polls let the rebalance through
	aOwns := call[kafka.AssignmentResult](t, a, "assignment", none{}).Partitions
	bOwns := call[kafka.AssignmentResult](t, b, "assignment", none{}).Partitions
	if len(aOwns) != 1 || len(bOwns) != 1 {
		t.Fatalf("a owns %v, b owns %v", aOwns, bOwns)
	}
	moved := bOwns[0].Partition
	// waitAssigned's polls may have handed b a record; a new lease
	// starts over.
	if err := b.(sdk.Resetter).Reset(t.Context()); err != nil {
		t.Fatal(err)
	}

	// b is handed the moved partition's records from the start: a never
	// committed them.
	got := pollAtLeast(t, b, 1)
	if got[0].Partition != moved || got[0].Offset != 0 {
		t.Fatalf("b's first record: %+v, want %s[%d]@0", got[0], topic, moved)
	}
	// a's commit covers only the partition it still owns.
	com := call[sdk.StreamCommitResult](t, a, "commit", commitAll)
	for _, o := range com.Committed {
		if o.Partition == moved {
			t.Fatalf("a committed %+v of the partition it lost", o)
		}
	}
	if len(com.Committed) != 1 {
		t.Fatalf("a committed %+v, want its one partition", com.Committed)
	}
	lag := call[sdk.StreamLagResult](t, b, "lag", none{})
	if p := lag.Partitions[moved]; p.Committed != -1 {
		t.Fatalf("the moved partition has a commit b did not make: %+v", p)
	}
}
