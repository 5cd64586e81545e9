package kafka

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// ProducerOptions returns the kgo options a configured "kafka" resource
// opens its clients with, for the benchmarks' franz-go peer.
func ProducerOptions(res sdk.Resource) []kgo.Opt { return res.(*ProducerResource).opts }
