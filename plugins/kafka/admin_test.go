package kafka_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/nebula-resource/nebula-resource/plugins/kafka"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// deleteAfter deletes the topic, if it exists, when the test ends.
func deleteAfter(t testing.TB, name string) {
	t.Helper()
	adm := admin(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, name)
	})
}

func listed(t testing.TB, p sdk.Instance, args map[string]any) map[string]kafka.TopicSummary {
	t.Helper()
	out := map[string]kafka.TopicSummary{}
	for _, s := range call[kafka.ListTopicsResult](t, p, "list_topics", args).Topics {
		out[s.Name] = s
	}
	return out
}

// A topic created with partitions and configuration is described with
// them, listed, and gone once deleted: describe_topic and delete_topic of
// it are then not_found.
func TestCreateDescribeListDeleteTopic(t *testing.T) {
	p := producer(t, nil)
	name := unique("nebula-admin-")
	deleteAfter(t, name)
	cfg := map[string]string{"retention.ms": "3600000", "cleanup.policy": "compact"}

	created := call[kafka.CreateTopicResult](t, p, "create_topic", map[string]any{"name": name, "partitions": 4, "replication_factor": 1, "config": cfg})
	if !created.Created || created.Name != name || created.Partitions != 4 || created.ReplicationFactor != 1 || created.TopicID == "" {
		t.Fatalf("create_topic returned %+v", created)
	}

	d := call[kafka.DescribeTopicResult](t, p, "describe_topic", map[string]any{"name": name})
	if d.Name != name || d.TopicID != created.TopicID || d.Internal || d.ReplicationFactor != 1 || len(d.Partitions) != 4 {
		t.Fatalf("describe_topic returned %s", jsonOf(d))
	}
	for i, part := range d.Partitions {
		if part.Partition != int32(i) || part.Leader < 0 || len(part.Replicas) != 1 || part.Replicas[0] != part.Leader ||
			len(part.ISR) != 1 || part.ISR[0] != part.Leader || part.Error != "" {
			t.Fatalf("partition %d: %s", i, jsonOf(part))
		}
	}
	if !maps.Equal(d.Config, cfg) {
		t.Fatalf("describe_topic config %v, want the settings given at creation %v", d.Config, cfg)
	}
	all := call[kafka.DescribeTopicResult](t, p, "describe_topic", map[string]any{"name": name, "include_defaults": true})
	if all.Config["retention.ms"] != "3600000" || all.Config["cleanup.policy"] != "compact" || len(all.Config) <= len(cfg) {
		t.Fatalf("describe_topic with include_defaults: config %v", all.Config)
	}

	if s, ok := listed(t, p, nil)[name]; !ok || s.Partitions != 4 || s.ReplicationFactor != 1 || s.Internal {
		t.Fatalf("list_topics: %s is %+v (listed: %v)", name, s, ok)
	}

	// The topic takes records at once.
	res := call[sdk.StreamProduceResult](t, p, "produce", map[string]any{"topic": name, "value": "v", "partition": 3})
	if res.Partition != 3 || res.Offset != 0 {
		t.Fatalf("produce to the new topic: %+v", res)
	}

	if del := call[kafka.DeleteTopicResult](t, p, "delete_topic", map[string]any{"name": name}); !del.Deleted || del.Name != name {
		t.Fatalf("delete_topic returned %+v", del)
	}
	_, err := try[kafka.DescribeTopicResult](t, p, "describe_topic", map[string]any{"name": name})
	wantKind(t, err, sdk.KindNotFound)
	if !strings.Contains(err.Error(), name) {
		t.Errorf("the error does not name the topic: %v", err)
	}
	if _, ok := listed(t, p, nil)[name]; ok {
		t.Fatalf("list_topics lists the deleted topic %s", name)
	}
	_, err = try[kafka.DeleteTopicResult](t, p, "delete_topic", map[string]any{"name": name})
	wantKind(t, err, sdk.KindNotFound)
	if del := call[kafka.DeleteTopicResult](t, p, "delete_topic", map[string]any{"name": name, "if_exists": true}); del.Deleted {
		t.Fatalf("delete_topic if_exists of a missing topic returned %+v", del)
	}

	// A topic created again under the name takes records again through
	// the same instance, from offset 0.
	call[kafka.CreateTopicResult](t, p, "create_topic", map[string]any{"name": name, "partitions": 1})
	if res := call[sdk.StreamProduceResult](t, p, "produce", map[string]any{"topic": name, "value": "again"}); res.Offset != 0 {
		t.Fatalf("produce to the topic created again: %+v", res)
	}
}

// Creating a topic that exists is already_exists, a caller's mistake
// that names the topic; with if_not_exists it succeeds, creates nothing,
// and reports the existing topic.
func TestCreateTopicTwice(t *testing.T) {
	p := producer(t, nil)
	name := unique("nebula-admin-")
	deleteAfter(t, name)
	call[kafka.CreateTopicResult](t, p, "create_topic", map[string]any{"name": name, "partitions": 2})

	_, err := try[kafka.CreateTopicResult](t, p, "create_topic", map[string]any{"name": name, "partitions": 5})
	wantKind(t, err, sdk.KindAlreadyExists)
	var e *sdk.Error
	if !errors.As(err, &e) || e.Code != "TOPIC_ALREADY_EXISTS" || !strings.Contains(e.Message, name) || sdk.IsRetryable(err) {
		t.Fatalf("want TOPIC_ALREADY_EXISTS naming %s, not retryable; got %#v", name, err)
	}
	sdktest.CheckMistake(t, sdktest.Mistake{Want: []sdk.Kind{sdk.KindAlreadyExists}}, err)

	again := call[kafka.CreateTopicResult](t, p, "create_topic", map[string]any{"name": name, "partitions": 5, "if_not_exists": true})
	if again.Created || again.Partitions != 2 || again.ReplicationFactor != 1 || again.TopicID == "" {
		t.Fatalf("create_topic if_not_exists of an existing topic returned %+v", again)
	}
}

// list_topics leaves out internal topics unless include_internal is set.
// kfake marks a topic internal by its kfake.is_internal setting.
func TestListTopicsLeavesOutInternalTopics(t *testing.T) {
	p := producer(t, nil)
	name := unique("nebula-internal-")
	deleteAfter(t, name)
	call[kafka.CreateTopicResult](t, p, "create_topic", map[string]any{"name": name, "partitions": 1, "config": map[string]string{"kfake.is_internal": "true"}})
	plain := newTopic(t, 2)

	got := listed(t, p, nil)
	if _, ok := got[name]; ok {
		t.Fatalf("list_topics lists the internal topic %s", name)
	}
	if s := got[plain]; s.Partitions != 2 {
		t.Fatalf("list_topics: %s is %+v", plain, s)
	}
	if s, ok := listed(t, p, map[string]any{"include_internal": true})[name]; !ok || !s.Internal || s.Partitions != 1 {
		t.Fatalf("list_topics include_internal: %s is %+v (listed: %v)", name, s, ok)
	}
	if d := call[kafka.DescribeTopicResult](t, p, "describe_topic", map[string]any{"name": name}); !d.Internal {
		t.Fatalf("describe_topic of the internal topic: %s", jsonOf(d))
	}
}

// The topic operations' mistakes are the caller's: bad names, partition
// counts and replication factors, arguments of the wrong shape, and topics
// that do not exist. None is reported as a failing backend.
func TestTopicOperationMistakes(t *testing.T) {
	p := producer(t, nil)
	missing := unique("nebula-missing-")
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	notFound := []sdk.Kind{sdk.KindNotFound}
	mistakes := []sdktest.Mistake{
		{Name: "empty name", Op: "create_topic", Args: `{"name":""}`},
		{Name: "name with a space and a slash", Op: "create_topic", Args: `{"name":"bad topic/name!"}`},
		{Name: "name too long", Op: "create_topic", Args: `{"name":` + q(strings.Repeat("t", 250)) + `}`},
		{Name: "name dot", Op: "create_topic", Args: `{"name":"."}`},
		{Name: "name dot dot", Op: "create_topic", Args: `{"name":".."}`},
		{Name: "name not ASCII", Op: "create_topic", Args: `{"name":"tópico"}`},
		{Name: "zero partitions", Op: "create_topic", Args: `{"name":` + q(missing) + `,"partitions":0}`},
		{Name: "negative partitions", Op: "create_topic", Args: `{"name":` + q(missing) + `,"partitions":-2}`},
		{Name: "partitions out of range", Op: "create_topic", Args: `{"name":` + q(missing) + `,"partitions":3000000000}`},
		{Name: "zero replication factor", Op: "create_topic", Args: `{"name":` + q(missing) + `,"replication_factor":0}`},
		{Name: "more replicas than brokers", Op: "create_topic", Args: `{"name":` + q(missing) + `,"replication_factor":5}`},
		{Name: "replication factor out of range", Op: "create_topic", Args: `{"name":` + q(missing) + `,"replication_factor":40000}`},
		{Name: "config not a map", Op: "create_topic", Args: `{"name":` + q(missing) + `,"config":["retention.ms"]}`},
		{Name: "config value not a string", Op: "create_topic", Args: `{"name":` + q(missing) + `,"config":{"retention.ms":1000}}`},
		{Name: "config with an empty name", Op: "create_topic", Args: `{"name":` + q(missing) + `,"config":{"":"x"}}`},
		{Name: "unknown argument", Op: "create_topic", Args: `{"name":` + q(missing) + `,"partitons":3}`},
		{Name: "no name", Op: "describe_topic", Args: `{}`},
		{Name: "describe empty name", Op: "describe_topic", Args: `{"name":""}`},
		{Name: "describe missing topic", Op: "describe_topic", Args: `{"name":` + q(missing) + `}`, Want: notFound},
		{Name: "delete missing topic", Op: "delete_topic", Args: `{"name":` + q(missing) + `}`, Want: notFound},
		{Name: "delete empty name", Op: "delete_topic", Args: `{"name":""}`},
		{Name: "list with a bad flag", Op: "list_topics", Args: `{"include_internal":"yes"}`},
	}
	checkMistakes(t, p, mistakes)
	// None of them created the topic.
	if _, ok := listed(t, p, nil)[missing]; ok {
		t.Fatalf("a refused create_topic created %s", missing)
	}
}

// With auto_create_topics, producing to a topic that does not exist
// creates it with auto_create_partitions partitions and writes the
// records; without, it fails fast with not_found naming the topic and
// creates nothing.
func TestProduceToNewTopic(t *testing.T) {
	t.Run("auto_create_topics", func(t *testing.T) {
		p := producer(t, map[string]any{"auto_create_topics": true, "auto_create_partitions": 5, "auto_create_replication_factor": 1})
		one, batch := unique("nebula-auto-"), unique("nebula-auto-")
		deleteAfter(t, one)
		deleteAfter(t, batch)
		if res := call[sdk.StreamProduceResult](t, p, "produce", map[string]any{"topic": one, "key": "k", "value": "v"}); res.Topic != one || res.Offset != 0 {
			t.Fatalf("produce: %+v", res)
		}
		res := call[sdk.StreamProduceBatchResult](t, p, "produce_batch", map[string]any{"topic": batch, "values": []string{"a", "b", "c"}, "partition": 4})
		if len(res.Records) != 3 || res.Records[0].Partition != 4 || res.Records[2].Offset != 2 {
			t.Fatalf("produce_batch: %+v", res)
		}
		for _, topic := range []string{one, batch} {
			if d := call[kafka.DescribeTopicResult](t, p, "describe_topic", map[string]any{"name": topic}); len(d.Partitions) != 5 {
				t.Fatalf("%s has %d partitions, want auto_create_partitions = 5", topic, len(d.Partitions))
			}
		}
		// The records are there to read.
		c := open(t, consumerResource(t, newGroup(), batch, nil))
		if got := pollAtLeast(t, c, 3); got[0].Value != "a" || got[2].Value != "c" {
			t.Fatalf("polled %+v", got)
		}
		// A name Kafka refuses is the caller's mistake, not a topic.
		_, err := try[sdk.StreamProduceResult](t, p, "produce", map[string]any{"topic": "bad topic/name!", "value": "v"})
		wantKind(t, err, sdk.KindInvalidArgument)
	})
	t.Run("off", func(t *testing.T) {
		p := producer(t, map[string]any{"delivery_timeout": "2m"})
		topic := unique("nebula-missing-")
		deleteAfter(t, topic)
		start := time.Now()
		_, err := try[sdk.StreamProduceBatchResult](t, p, "produce_batch", map[string]any{"topic": topic, "values": []string{"a", "b"}})
		took := time.Since(start)
		wantKind(t, err, sdk.KindNotFound)
		if !strings.Contains(err.Error(), `topic "`+topic+`" does not exist`) || !strings.Contains(err.Error(), "auto_create_topics") {
			t.Errorf("the error does not name the missing topic and the setting: %v", err)
		}
		if took > 10*time.Second {
			t.Errorf("producing to a missing topic took %v to fail", took)
		}
		_, err = try[kafka.DescribeTopicResult](t, p, "describe_topic", map[string]any{"name": topic})
		wantKind(t, err, sdk.KindNotFound)
	})
}

// An instance that wrote to a topic which another client then deleted and
// created again writes to the new topic: franz-go's UNKNOWN_TOPIC_ID for
// the old topic's ID makes the driver forget the topic and send again.
func TestProduceAfterTopicRecreatedElsewhere(t *testing.T) {
	p := producer(t, nil)
	topic := newTopic(t, 1)
	call[sdk.StreamProduceResult](t, p, "produce", map[string]any{"topic": topic, "value": "old"})
	adm := admin(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := adm.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	offsets := map[int32]int64{}
	for i := range 4 {
		res := call[sdk.StreamProduceBatchResult](t, p, "produce_batch", map[string]any{"topic": topic, "keys": []string{fmt.Sprint(i)}, "values": []string{"new"}})
		r := res.Records[0]
		if r.Offset != offsets[r.Partition] {
			t.Fatalf("produce_batch %d to the topic created again: %+v, want offset %d", i, res, offsets[r.Partition])
		}
		offsets[r.Partition]++
	}
}
