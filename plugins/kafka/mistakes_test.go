package kafka_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// TestCallerMistakesAreNeverBackendFailures sends, to the real broker, the
// produce and consume calls a careless caller makes: records too large,
// partitions the topic does not have, invalid topic names, arguments of
// the wrong shape, seeks and commits of partitions the member does not
// hold. None may answer with a kind that says the backend failed.
func TestCallerMistakesAreNeverBackendFailures(t *testing.T) {
	topic := newTopic(t, 2)
	p := producer(t, map[string]any{"delivery_timeout": "5s"})
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	notFound := []sdk.Kind{sdk.KindNotFound, sdk.KindInvalidArgument}
	mistakes := []sdktest.Mistake{
		{Name: "record larger than a batch", Op: "produce", Args: `{"topic":` + q(topic) + `,"value":` + q(strings.Repeat("v", 2<<20)) + `}`},
		{Name: "batch with a record too large", Op: "produce_batch", Args: `{"topic":` + q(topic) + `,"values":["a",` + q(strings.Repeat("v", 2<<20)) + `]}`},
		{Name: "partition the topic lacks", Op: "produce", Args: `{"topic":` + q(topic) + `,"value":"v","partition":7}`},
		{Name: "negative partition", Op: "produce", Args: `{"topic":` + q(topic) + `,"value":"v","partition":-5}`},
		{Name: "invalid topic name", Op: "produce", Args: `{"topic":"bad topic/name!","value":"v"}`, Want: notFound},
		{Name: "topic name too long", Op: "produce", Args: `{"topic":` + q(strings.Repeat("t", 300)) + `,"value":"v"}`, Want: notFound},
		{Name: "empty topic", Op: "produce", Args: `{"topic":"","value":"v"}`},
		{Name: "keys and values of different lengths", Op: "produce_batch", Args: `{"topic":` + q(topic) + `,"keys":["a"],"values":["1","2"]}`},
		{Name: "no values", Op: "produce_batch", Args: `{"topic":` + q(topic) + `,"values":[]}`},
		{Name: "value of the wrong type", Op: "produce", Args: `{"topic":` + q(topic) + `,"value":5}`},
		{Name: "headers of the wrong type", Op: "produce", Args: `{"topic":` + q(topic) + `,"value":"v","headers":["a"]}`},
	}
	checkMistakes(t, p, mistakes)

	c := open(t, consumerResource(t, newGroup(), topic, nil))
	consumerMistakes := []sdktest.Mistake{
		{Name: "poll of zero records", Op: "poll", Args: `{"max_records":0}`},
		{Name: "seek of a partition not held", Op: "seek", Args: `{"topic":"other-topic","partition":0,"offset":0}`, Want: []sdk.Kind{sdk.KindInvalidArgument, sdk.KindFailedPrecondition}},
		{Name: "seek to a bad offset", Op: "seek", Args: `{"topic":` + q(topic) + `,"partition":0,"offset":-7}`, Want: []sdk.Kind{sdk.KindInvalidArgument, sdk.KindFailedPrecondition}},
		{Name: "commit lists of different lengths", Op: "commit", Args: `{"topics":[` + q(topic) + `],"partitions":[0,1],"offsets":[1]}`},
		{Name: "commit of a negative offset", Op: "commit", Args: `{"topics":[` + q(topic) + `],"partitions":[0],"offsets":[-3]}`, Want: []sdk.Kind{sdk.KindInvalidArgument, sdk.KindFailedPrecondition}},
	}
	checkMistakes(t, c, consumerMistakes)
}
