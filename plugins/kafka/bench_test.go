package kafka_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/nebula-resource/nebula-resource/plugins/kafka"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// Produce throughput with 1 KiB values, acks = all, idempotent, to a topic
// of 3 partitions, records without keys:
//
//   - franz-go: a kgo.Client configured as the plugin configures its own
//     with the defaults (linger 10ms, batches up to 1000012 bytes, no
//     compression, Kafka's hash partitioner, delivery timeout 30s), calling
//     ProduceSync; the peer.
//   - driver: the same through the driver's Invoke, in process: JSON
//     arguments and result, the explicit-partition wrapper, the detached
//     context.
//   - driver-grpc: the driver served over real gRPC on loopback
//     (sdktest.Connect), as a plugin is served, minus the process boundary
//     and mTLS.
//
// batch=1000 sends 1000 records per call (produce_batch for the driver);
// single/parallel sends one record per call from GOMAXPROCS*8 goroutines
// sharing one client or instance. Each reports records/s. kfake keeps
// every record in memory: bound the batch runs, for example
// -bench 'BenchmarkProduce/batch' -benchtime 300x.
func BenchmarkProduce(b *testing.B) {
	topic := newTopic(b, 3)
	value := strings.Repeat("0123456789abcdef", 64) // 1 KiB
	const batch = 1000

	values := make([]string, batch)
	for i := range values {
		values[i] = value
	}
	batchArgs, _ := json.Marshal(map[string]any{"topic": topic, "values": values})
	singleArgs, _ := json.Marshal(map[string]any{"topic": topic, "value": value})

	peer := func(b *testing.B) *kgo.Client {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(testBrokers(b)...),
			kgo.ClientID("nebula-resource"),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(10*time.Millisecond),
			kgo.ProducerBatchMaxBytes(1000012),
			kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
			kgo.RecordDeliveryTimeout(30*time.Second),
		)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cl.Close)
		return cl
	}
	instance := func(b *testing.B, d sdk.Driver) sdk.Instance {
		res, err := d.Configure(context.Background(), sdk.ConfigureRequest{Type: kafka.ProducerType, Name: "bench", Config: configJSON(b, nil)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = res.Close(context.Background()) })
		inst, err := res.Open(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = inst.Close(context.Background()) })
		return inst
	}
	report := func(b *testing.B, perOp int) {
		b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "records/s")
		b.SetBytes(int64(perOp * len(value)))
	}

	b.Run("batch=1000/franz-go", func(b *testing.B) {
		cl := peer(b)
		recs := make([]*kgo.Record, batch)
		for b.Loop() {
			for i := range recs {
				recs[i] = &kgo.Record{Topic: topic, Value: []byte(value)}
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
		report(b, batch)
	})
	for _, mode := range []string{"driver", "driver-grpc"} {
		b.Run("batch=1000/"+mode, func(b *testing.B) {
			var d sdk.Driver = kafka.New()
			if mode == "driver-grpc" {
				d = sdktest.Connect(b, d)
			}
			inst := instance(b, d)
			for b.Loop() {
				if _, err := inst.Invoke(context.Background(), sdk.InvokeRequest{Operation: "produce_batch", Args: batchArgs}); err != nil {
					b.Fatal(err)
				}
			}
			report(b, batch)
		})
	}

	b.Run("single/parallel/franz-go", func(b *testing.B) {
		cl := peer(b)
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte(value)}).First(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		report(b, 1)
	})
	for _, mode := range []string{"driver", "driver-grpc"} {
		b.Run("single/parallel/"+mode, func(b *testing.B) {
			var d sdk.Driver = kafka.New()
			if mode == "driver-grpc" {
				d = sdktest.Connect(b, d)
			}
			inst := instance(b, d)
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := inst.Invoke(context.Background(), sdk.InvokeRequest{Operation: "produce", Args: singleArgs}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			report(b, 1)
		})
	}
}
