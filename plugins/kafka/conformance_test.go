package kafka_test

import (
	"encoding/json"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/kafka"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// producerSuite runs the kit on the producer type: produce is the probe;
// producing to a topic that does not exist must arrive as not_found.
func producerSuite(t *testing.T) sdktest.Suite {
	topic := newTopic(t, 3)
	probe, _ := json.Marshal(map[string]any{"topic": topic, "key": "k", "value": "conformance"})
	failing, _ := json.Marshal(map[string]any{"topic": unique("nebula-missing-"), "value": "v"})
	return sdktest.Suite{
		Type:          kafka.ProducerType,
		Config:        string(configJSON(t, nil)),
		InvalidConfig: string(configJSON(t, map[string]any{"acks": "leader"})), // idempotent (default true) needs acks = "all"
		Probe:         sdk.InvokeRequest{Operation: "produce", Args: probe},
		Failing:       &sdk.InvokeRequest{Operation: "produce", Args: failing},
		FailingKind:   sdk.KindNotFound,
	}
}

// consumerSuite runs the kit on the consumer type: every instance is a
// member of one group (16 at once in ConcurrentUse); poll is the probe;
// seeking in a partition the member does not own must arrive as
// failed_precondition.
func consumerSuite(t *testing.T) sdktest.Suite {
	topic := newTopic(t, 3)
	cfg := map[string]any{"group": newGroup(), "topics": []string{topic}, "session_timeout": "10s", "rebalance_timeout": "10s"}
	bad := map[string]any{"group": "g", "topics": []string{topic}, "commit": "sometimes"}
	failing, _ := json.Marshal(map[string]any{"topic": topic, "partition": 99, "offset": 0})
	return sdktest.Suite{
		Type:          kafka.ConsumerType,
		Config:        string(configJSON(t, cfg)),
		InvalidConfig: string(configJSON(t, bad)),
		Probe:         sdk.InvokeRequest{Operation: "poll", Args: json.RawMessage(`{"max_records": 10, "timeout": "20ms"}`)},
		Failing:       &sdk.InvokeRequest{Operation: "seek", Args: failing},
		FailingKind:   sdk.KindFailedPrecondition,
	}
}

func TestKafkaConformanceInProcess(t *testing.T) {
	t.Run("producer", func(t *testing.T) { sdktest.RunDriver(t, kafka.New(), producerSuite(t)) })
	t.Run("consumer", func(t *testing.T) { sdktest.RunDriver(t, kafka.New(), consumerSuite(t)) })
}

func TestKafkaConformanceAsBuiltBinary(t *testing.T) {
	bin := sdktest.Build(t, "./cmd/nebula-plugin-kafka")
	t.Run("producer", func(t *testing.T) { sdktest.RunBinary(t, bin, producerSuite(t)) })
	t.Run("consumer", func(t *testing.T) { sdktest.RunBinary(t, bin, consumerSuite(t)) })
}
