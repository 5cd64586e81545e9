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
//   - franz-go: a kgo.Client opened with the options the driver opens its
//     own with (kafka.ProducerOptions: by default batches up to 1000012
//     bytes, no compression, Kafka's hash partitioner behind the
//     explicit-partition wrapper, delivery timeout 30s), calling
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

	peer := func(b *testing.B) *kgo.Client { return peerClient(b, nil) }
	instance := func(b *testing.B, d sdk.Driver) sdk.Instance { return benchInstance(b, d, nil) }
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
				if _, err := do(context.Background(), inst, "produce_batch", batchArgs); err != nil {
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
					if _, err := do(context.Background(), inst, "produce", singleArgs); err != nil {
						b.Error(err)
						return
					}
				}
			})
			report(b, 1)
		})
	}
}

// BenchmarkProduceBatchBesideFranzGo is the workload of issue 12:
// produce_batch of 1,000 records of 1 KiB (acks all, idempotent, no
// compression, no linger, 3 partitions, no keys) through the driver's
// Invoke in process, beside franz-go's ProduceSync of the same records on
// a client opened with the driver's own options (kafka.ProducerOptions),
// to the same topic. The two alternate batch by batch (which goes first
// alternates too), so that both see the same load on a shared machine. It
// reports each one's records/s and driver/franz-go, the ratio of the two;
// ns/op is one batch of each. kfake keeps every record in memory: bound
// the run, and repeat it for rounds:
//
//	go test -run '^$' -bench ProduceBatchBesideFranzGo -benchtime 100x -count 5 ./plugins/kafka/
func BenchmarkProduceBatchBesideFranzGo(b *testing.B) {
	topic := newTopic(b, 3)
	value := strings.Repeat("0123456789abcdef", 64) // 1 KiB
	const batch = 1000
	extra := map[string]any{"linger": "0s"}

	values := make([]string, batch)
	for i := range values {
		values[i] = value
	}
	args, _ := json.Marshal(map[string]any{"topic": topic, "values": values})
	cl := peerClient(b, extra)
	inst := benchInstance(b, kafka.New(), extra)
	ctx := context.Background()

	peerBatch := func() {
		recs := make([]*kgo.Record, batch)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Value: []byte(value)}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	driverBatch := func() {
		if _, err := do(ctx, inst, "produce_batch", args); err != nil {
			b.Fatal(err)
		}
	}
	var peerTime, driverTime time.Duration
	timed := func(f func(), total *time.Duration) {
		start := time.Now()
		f()
		*total += time.Since(start)
	}
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			timed(peerBatch, &peerTime)
			timed(driverBatch, &driverTime)
		} else {
			timed(driverBatch, &driverTime)
			timed(peerBatch, &peerTime)
		}
		i++
	}
	peerRate := float64(b.N*batch) / peerTime.Seconds()
	driverRate := float64(b.N*batch) / driverTime.Seconds()
	b.ReportMetric(peerRate, "franz-go-records/s")
	b.ReportMetric(driverRate, "driver-records/s")
	b.ReportMetric(driverRate/peerRate, "driver/franz-go")
}

// peerClient opens a franz-go client with the options the driver opens a
// "kafka" resource's client with, given the resource's extra settings.
func peerClient(b *testing.B, extra map[string]any) *kgo.Client {
	b.Helper()
	res, err := kafka.New().Configure(context.Background(), sdk.ConfigureRequest{Type: kafka.ProducerType, Name: "peer", Config: configJSON(b, extra)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = res.Close(context.Background()) })
	cl, err := kgo.NewClient(kafka.ProducerOptions(res)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return cl
}

// benchInstance opens an instance of a "kafka" resource of d with extra
// settings, closed when the benchmark ends.
func benchInstance(b *testing.B, d sdk.Driver, extra map[string]any) sdk.Instance {
	b.Helper()
	return sdktest.Open(b, d, sdk.ConfigureRequest{Type: kafka.ProducerType, Name: "bench", Config: configJSON(b, extra)})
}
