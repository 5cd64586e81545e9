package kafka_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/nebula-resource/nebula-resource/plugins/kafka"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// A record written with produce comes back from poll with its key, value,
// headers and timestamp, at the partition and offset produce reported.
func TestProduceThenPollRoundTrip(t *testing.T) {
	topic := newTopic(t, 3)
	p := producer(t, nil)
	before := time.Now().Add(-time.Second)
	res := call[sdk.StreamProduceResult](t, p, "produce", map[string]any{
		"topic": topic, "key": "k1", "value": "hello, ünïcode", "headers": map[string]string{"trace": "abc", "kind": "greeting"},
	})
	if res.Topic != topic || res.Partition < 0 || res.Partition > 2 || res.Offset != 0 {
		t.Fatalf("produce returned %+v, want offset 0 in a partition of %s", res, topic)
	}
	c := open(t, consumerResource(t, newGroup(), topic, nil))
	recs := pollAtLeast(t, c, 1)
	r := recs[0]
	if r.Topic != topic || r.Partition != res.Partition || r.Offset != res.Offset || r.Key != "k1" || r.Value != "hello, ünïcode" ||
		r.Headers["trace"] != "abc" || r.Headers["kind"] != "greeting" || r.Timestamp.Before(before) || r.Timestamp.After(time.Now().Add(time.Second)) {
		t.Fatalf("polled %+v, want what was produced (%+v)", r, res)
	}
}

// A record sent to an explicit partition lands there, whatever the
// partitioner; a partition the topic does not have, or a negative one, is
// invalid_argument; the manual partitioner needs a partition.
func TestProduceToExplicitPartition(t *testing.T) {
	topic := newTopic(t, 3)
	for _, partitioner := range []string{"hash", "round_robin", "sticky", "manual"} {
		t.Run(partitioner, func(t *testing.T) {
			p := producer(t, map[string]any{"partitioner": partitioner})
			for part := int32(0); part < 3; part++ {
				for range 3 { // the same key each time: a hash would pick one partition
					res := call[sdk.StreamProduceResult](t, p, "produce", map[string]any{"topic": topic, "key": "same", "value": "v", "partition": part})
					if res.Partition != part {
						t.Fatalf("produce to partition %d wrote to partition %d", part, res.Partition)
					}
				}
				b := call[sdk.StreamProduceBatchResult](t, p, "produce_batch", map[string]any{"topic": topic, "values": []string{"a", "b", "c"}, "partition": part})
				for i, pos := range b.Records {
					if pos.Partition != part || (i > 0 && pos.Offset != b.Records[i-1].Offset+1) {
						t.Fatalf("produce_batch to partition %d: %+v", part, b.Records)
					}
				}
			}
			_, err := try[sdk.StreamProduceResult](t, p, "produce", map[string]any{"topic": topic, "value": "v", "partition": 7})
			wantKind(t, err, sdk.KindInvalidArgument)
			_, err = try[sdk.StreamProduceResult](t, p, "produce", map[string]any{"topic": topic, "value": "v", "partition": -3})
			wantKind(t, err, sdk.KindInvalidArgument)
			if partitioner == "manual" {
				_, err = try[sdk.StreamProduceResult](t, p, "produce", map[string]any{"topic": topic, "value": "v"})
				wantKind(t, err, sdk.KindInvalidArgument)
			}
		})
	}
}

// The hash partitioner sends records with the same key to the same
// partition, and spreads different keys.
func TestHashPartitionerKeepsKeysTogether(t *testing.T) {
	topic := newTopic(t, 3)
	p := producer(t, nil)
	seen := map[string]int32{}
	partitions := map[int32]bool{}
	for i := range 60 {
		k := key(i % 20)
		res := call[sdk.StreamProduceResult](t, p, "produce", map[string]any{"topic": topic, "key": k, "value": "v"})
		if prev, ok := seen[k]; ok && prev != res.Partition {
			t.Fatalf("key %s went to partitions %d and %d", k, prev, res.Partition)
		}
		seen[k] = res.Partition
		partitions[res.Partition] = true
	}
	if len(partitions) < 2 {
		t.Fatalf("20 keys all went to partitions %v", partitions)
	}
}

// produce_batch returns one position per value, in the order of the
// values, with the offsets of one partition consecutive; it refuses keys
// that do not match the values.
func TestProduceBatch(t *testing.T) {
	topic := newTopic(t, 3)
	p := producer(t, nil)
	var keys, values []string
	for i := range 500 {
		keys = append(keys, key(i))
		values = append(values, "v"+key(i))
	}
	res := call[sdk.StreamProduceBatchResult](t, p, "produce_batch", map[string]any{"topic": topic, "keys": keys, "values": values})
	if len(res.Records) != len(values) || res.Topic != topic {
		t.Fatalf("got %d positions for %d values", len(res.Records), len(values))
	}
	next := map[int32]int64{}
	for i, pos := range res.Records {
		if pos.Offset != next[pos.Partition] {
			t.Fatalf("record %d at %+v, want offset %d: positions are not in the order of the values", i, pos, next[pos.Partition])
		}
		next[pos.Partition]++
	}
	// The consumer sees each value at the position produce_batch gave.
	c := open(t, consumerResource(t, newGroup(), topic, nil))
	got := pollAtLeast(t, c, len(values))
	at := map[string]sdk.StreamPosition{}
	for _, r := range got {
		at[r.Value] = sdk.StreamPosition{Partition: r.Partition, Offset: r.Offset}
	}
	for i, v := range values {
		if at[v] != res.Records[i] {
			t.Fatalf("value %s is at %+v, produce_batch said %+v", v, at[v], res.Records[i])
		}
	}

	for _, bad := range []map[string]any{
		{"topic": topic, "keys": []string{"a"}, "values": []string{"1", "2"}},
		{"topic": topic, "values": []string{}},
		{"topic": "", "values": []string{"1"}},
		{"topic": topic, "values": []string{"1"}, "bogus": 1},
		{"topic": topic, "values": "not a list"},
		{"topic": topic, "values": []string{"1"}, "partition": 1.5},
		{"topic": topic, "values": []any{"1", 2}},
		{"topic": topic},
	} {
		_, err := try[sdk.StreamProduceBatchResult](t, p, "produce_batch", bad)
		wantKind(t, err, sdk.KindInvalidArgument)
	}
}

// Producing to a topic that does not exist fails with not_found (the test
// broker may create topics, but the driver never asks it to).
func TestProduceToMissingTopicIsNotFound(t *testing.T) {
	p := producer(t, nil)
	_, err := try[sdk.StreamProduceResult](t, p, "produce", map[string]any{"topic": unique("nebula-missing-"), "value": "v"})
	wantKind(t, err, sdk.KindNotFound)
	var e *sdk.Error
	if !errors.As(err, &e) || e.Code != "UNKNOWN_TOPIC_OR_PARTITION" {
		t.Fatalf("want code UNKNOWN_TOPIC_OR_PARTITION, got %#v", err)
	}
}

// acks = leader and acks = none (with idempotent = false) write records;
// with none the brokers report no offset.
func TestAcksLeaderAndNone(t *testing.T) {
	topic := newTopic(t, 1)
	leader := producer(t, map[string]any{"acks": "leader", "idempotent": false})
	if res := call[sdk.StreamProduceResult](t, leader, "produce", map[string]any{"topic": topic, "value": "a"}); res.Offset != 0 {
		t.Fatalf("acks leader: %+v", res)
	}
	noAck := producer(t, map[string]any{"acks": "none", "idempotent": false, "compression": "zstd"})
	if res := call[sdk.StreamProduceResult](t, noAck, "produce", map[string]any{"topic": topic, "value": "b"}); res.Offset != -1 || res.Partition != 0 {
		t.Fatalf("acks none: %+v, want offset -1", res)
	}
	c := open(t, consumerResource(t, newGroup(), topic, nil))
	if got := pollAtLeast(t, c, 2); got[0].Value != "a" || got[1].Value != "b" {
		t.Fatalf("polled %+v", got)
	}
}

// Every compression codec writes records a consumer reads back.
func TestCompressionCodecs(t *testing.T) {
	topic := newTopic(t, 1)
	codecs := []string{"none", "gzip", "snappy", "lz4", "zstd"}
	for _, codec := range codecs {
		p := producer(t, map[string]any{"compression": codec})
		call[sdk.StreamProduceBatchResult](t, p, "produce_batch", map[string]any{"topic": topic, "values": []string{codec, strings.Repeat(codec, 100)}})
	}
	c := open(t, consumerResource(t, newGroup(), topic, nil))
	got := pollAtLeast(t, c, 2*len(codecs))
	for i, codec := range codecs {
		if got[2*i].Value != codec || got[2*i+1].Value != strings.Repeat(codec, 100) {
			t.Fatalf("codec %s: read back %q", codec, got[2*i].Value)
		}
	}
}

// A broker that does not answer makes Open fail with unavailable, which the
// host retries.
func TestUnreachableBrokerIsUnavailable(t *testing.T) {
	d := kafka.New()
	for _, typ := range []string{kafka.ProducerType, kafka.ConsumerType} {
		cfg := `{"brokers": ["127.0.0.1:1"], "dial_timeout": "1s", "group": "g", "topics": ["t"]}`
		if typ == kafka.ProducerType {
			cfg = `{"brokers": ["127.0.0.1:1"], "dial_timeout": "1s"}`
		}
		res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: typ, Name: "down", Config: json.RawMessage(cfg)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		_, err = res.Open(ctx)
		cancel()
		wantKind(t, err, sdk.KindUnavailable)
		if !sdk.IsRetryable(err) {
			t.Fatalf("%v is not retryable", err)
		}
		_ = res.Close(context.Background())
	}
}

// A SASL login the broker refuses fails Open, and the password appears in
// no error. Kafka answers a refused login with SASL_AUTHENTICATION_FAILED,
// which is unauthenticated (see TestKindOfKafkaErrors); kfake hangs up
// instead, which franz-go reports as EOF, so unavailable is accepted here.
func TestSASLFailureHidesPassword(t *testing.T) {
	const password = "s3cr3t-Pa55word-xyzzy"
	for _, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		t.Run(mech, func(t *testing.T) {
			res := configure(t, kafka.ProducerType, map[string]any{"sasl_mechanism": mech, "sasl_username": "nobody", "sasl_password": password, "dial_timeout": "2s"})
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err := res.Open(ctx)
			if err == nil {
				t.Fatal("Open with credentials the broker does not know succeeded")
			}
			if k := sdk.KindOf(err); k != sdk.KindUnauthenticated && k != sdk.KindUnavailable {
				t.Fatalf("kind %q, want unauthenticated (or unavailable from kfake): %v", k, err)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// A call whose context is canceled is canceled; a closed instance refuses
// calls with failed_precondition (checked in process: over gRPC the SDK
// forgets a closed instance and answers unavailable itself).
func TestCanceledAndClosed(t *testing.T) {
	topic := newTopic(t, 1)
	p := producer(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := do(ctx, p, "produce", json.RawMessage(`{"topic":"`+topic+`","value":"v"}`))
	wantKind(t, err, sdk.KindCanceled)

	inProcess := sdktest.Open(t, kafka.New(), sdk.ConfigureRequest{Type: kafka.ProducerType, Name: "local", Config: configJSON(t, nil)})
	if err := inProcess.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err = try[sdk.StreamProduceResult](t, inProcess, "produce", map[string]any{"topic": topic, "value": "v"})
	wantKind(t, err, sdk.KindFailedPrecondition)
	wantKind(t, inProcess.Check(t.Context()), sdk.KindFailedPrecondition)
}

// Many goroutines share one producer instance.
func TestConcurrentProduce(t *testing.T) {
	topic := newTopic(t, 3)
	p := producer(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for range 20 {
				_, err := do(t.Context(), p, "produce", json.RawMessage(`{"topic":"`+topic+`","value":"v"}`))
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	lag := endOffsets(t, topic)
	if lag != 32*20 {
		t.Fatalf("the topic holds %d records, want %d", lag, 32*20)
	}
}

// endOffsets sums the end offsets of a topic's partitions.
func endOffsets(t testing.TB, topic string) int64 {
	t.Helper()
	ends, err := admin(t).ListEndOffsets(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, ps := range ends {
		for _, o := range ps {
			n += o.Offset
		}
	}
	return n
}

// pollAtLeast polls (without committing) until it has n records, in the
// order they arrived.
func pollAtLeast(t testing.TB, c sdk.Instance, n int) []sdk.StreamRecord {
	t.Helper()
	var out []sdk.StreamRecord
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("polled %d records in 30s, want %d", len(out), n)
		}
		res := call[sdk.StreamPollResult](t, c, "poll", map[string]any{"max_records": 1000, "timeout": "500ms"})
		out = append(out, res.Records...)
	}
	return out
}

// A produce_batch whose arguments exceed max_message_size (16 MiB by
// default, the limit of both sides of the plugin link) is refused before
// it reaches the driver, as the caller's mistake (invalid_argument naming
// the setting), and writes nothing (see docs/kafka.md).
func TestProduceBatchAboveTheMessageLimit(t *testing.T) {
	topic := newTopic(t, 1)
	p := producer(t, nil)
	values := make([]string, 17<<10) // 17 MiB of JSON
	for i := range values {
		values[i] = strings.Repeat("x", 1024)
	}
	_, err := try[sdk.StreamProduceBatchResult](t, p, "produce_batch", map[string]any{"topic": topic, "values": values})
	wantKind(t, err, sdk.KindInvalidArgument)
	if !strings.Contains(err.Error(), "max_message_size") {
		t.Errorf("the error does not name the setting: %v", err)
	}
	if n := endOffsets(t, topic); n != 0 {
		t.Fatalf("%d records were written", n)
	}
	call[sdk.StreamProduceBatchResult](t, p, "produce_batch", map[string]any{"topic": topic, "values": values[:3500]})
}

// Values and keys arrive byte for byte, whether produce_batch reads its
// arguments itself (plain strings) or through encoding/json (escapes),
// and an empty value is an empty value, not a null one (a tombstone).
func TestProduceBatchValuesArriveAsSent(t *testing.T) {
	topic := newTopic(t, 1)
	p := producer(t, nil)
	plain := []string{"", "plain", "日本語 ✓ 😀", "\x7f"}
	escaped := []string{"", "quote \" backslash \\ tab \t", "nul \x00", "é"}
	for _, values := range [][]string{plain, escaped} {
		keys := make([]string, len(values))
		for i := range keys {
			keys[i] = "k" + values[i]
		}
		call[sdk.StreamProduceBatchResult](t, p, "produce_batch", map[string]any{"topic": topic, "keys": keys, "values": values})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(testBrokers(t)...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := append(append([]string(nil), plain...), escaped...)
	var got []*kgo.Record
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for len(got) < len(want) {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("after %d records: %v", len(got), err)
		}
		got = append(got, fs.Records()...)
	}
	for i, r := range got {
		if string(r.Value) != want[i] || string(r.Key) != "k"+want[i] || r.Value == nil {
			t.Errorf("record %d: key %q value %q (nil: %v), want key %q value %q", i, r.Key, r.Value, r.Value == nil, "k"+want[i], want[i])
		}
	}
}
