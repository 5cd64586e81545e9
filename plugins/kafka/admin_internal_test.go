package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/semaphore"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The topic operations of an instance whose brokers are unreachable fail
// with unavailable, retryable, counted against the backend, and at once.
// (Open checks that a broker answers, so the instance is put together by
// hand.)
func TestTopicOperationsOfUnreachableBrokersAreUnavailable(t *testing.T) {
	cfg := ProducerConfig{Brokers: []string{"127.0.0.1:1"}, DialTimeout: time.Second, Partitioner: "hash", Acks: "all"}
	opts, err := cfg.connection().options()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	p := &ProducerInstance{res: &ProducerResource{resource: newResource("down", cfg.connection()), cfg: cfg}, cl: cl, adm: kadm.NewClient(cl), room: semaphore.NewWeighted(1)}
	for _, op := range []struct{ name, args string }{
		{"create_topic", `{"name":"t","partitions":3}`},
		{"delete_topic", `{"name":"t"}`},
		{"list_topics", `{}`},
		{"describe_topic", `{"name":"t"}`},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		start := time.Now()
		_, err := invoke(ctx, p, op.name, op.args)
		cancel()
		if k := sdk.KindOf(err); k != sdk.KindUnavailable || !sdk.IsRetryable(err) {
			t.Errorf("%s: error kind %q (retryable %v), want unavailable: %v", op.name, k, sdk.IsRetryable(err), err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: failed after %v", op.name, d)
		}
	}
}

// checkTopicName follows Kafka's rule for topic names.
func TestCheckTopicName(t *testing.T) {
	for name, ok := range map[string]bool{
		"orders": true, "orders.v2": true, "orders_v2-EU": true, "a": true, "...": true,
		"": false, ".": false, "..": false, "a b": false, "a/b": false, "ä": false, "a\x00": false,
	} {
		if err := checkTopicName(name); (err == nil) != ok || err != nil && sdk.KindOf(err) != sdk.KindInvalidArgument {
			t.Errorf("checkTopicName(%q) = %v", name, err)
		}
	}
	if err := checkTopicName(strings.Repeat("t", maxTopicName)); err != nil {
		t.Errorf("a name of %d characters: %v", maxTopicName, err)
	}
	if err := checkTopicName(strings.Repeat("t", maxTopicName+1)); sdk.KindOf(err) != sdk.KindInvalidArgument {
		t.Errorf("a name of %d characters: %v", maxTopicName+1, err)
	}
}
