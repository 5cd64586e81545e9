package kafka_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/nebula-resource/nebula-resource/plugins/kafka"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const defaultTestBrokers = "127.0.0.1:9092"

// testBrokers returns the test broker's addresses and fails the test,
// never skips it, when no broker answers.
func testBrokers(t testing.TB) []string {
	t.Helper()
	s := os.Getenv("NEBULA_TEST_KAFKA_BROKERS")
	if s == "" {
		s = defaultTestBrokers
	}
	brokers := strings.Split(s, ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DialTimeout(2*time.Second))
	if err != nil {
		t.Fatalf("kafka client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("no Kafka broker answers at %s (NEBULA_TEST_KAFKA_BROKERS, default %s): %v\nRun `scripts/testenv up` (or `make test`) to start it.", s, defaultTestBrokers, err)
	}
	return brokers
}

// admin returns an admin client of the test broker, beside the driver, to
// set up topics and look at what the driver did.
func admin(t testing.TB) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(testBrokers(t)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func unique(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newTopic creates a topic with a unique name and the given number of
// partitions, deleted when the test ends.
func newTopic(t testing.TB, partitions int32) string {
	t.Helper()
	name := unique("nebula-test-")
	adm := admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := adm.DeleteTopics(ctx, name); err != nil {
			t.Logf("delete topic %s: %v", name, err)
		}
	})
	return name
}

func newGroup() string { return unique("nebula-test-group-") }

// configJSON merges extra settings into {"brokers": [...]}.
func configJSON(t testing.TB, extra map[string]any) json.RawMessage {
	t.Helper()
	cfg := map[string]any{"brokers": testBrokers(t)}
	for k, v := range extra {
		cfg[k] = v
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// configure configures a resource of the driver reached over in-process
// gRPC, as the host sees it, closed when the test ends.
func configure(t testing.TB, typ string, extra map[string]any) sdk.Resource {
	t.Helper()
	d := sdktest.Connect(t, kafka.New())
	res, err := d.Configure(t.Context(), sdk.ConfigureRequest{Type: typ, Name: "test", Config: configJSON(t, extra)})
	if err != nil {
		t.Fatalf("Configure %s: %v", typ, err)
	}
	t.Cleanup(func() { _ = res.Close(context.Background()) })
	return res
}

func open(t testing.TB, res sdk.Resource) sdk.Instance {
	t.Helper()
	inst, err := res.Open(t.Context())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = inst.Close(context.Background()) })
	return inst
}

// producer opens a "kafka" instance with extra settings.
func producer(t testing.TB, extra map[string]any) sdk.Instance {
	t.Helper()
	return open(t, configure(t, kafka.ProducerType, extra))
}

// consumerResource configures a "kafka_consumer" resource of the group on
// the topic, with a short session timeout and extra settings.
func consumerResource(t testing.TB, group, topic string, extra map[string]any) sdk.Resource {
	t.Helper()
	cfg := map[string]any{"group": group, "topics": []string{topic}, "session_timeout": "10s", "rebalance_timeout": "20s"}
	for k, v := range extra {
		cfg[k] = v
	}
	return configure(t, kafka.ConsumerType, cfg)
}

// call invokes an operation and decodes its result into T.
func call[T any](t testing.TB, inst sdk.Instance, op string, args any) T {
	t.Helper()
	out, err := try[T](t, inst, op, args)
	if err != nil {
		t.Fatalf("%s %v: %v", op, args, err)
	}
	return out
}

func try[T any](t testing.TB, inst sdk.Instance, op string, args any) (T, error) {
	t.Helper()
	var out T
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := do(ctx, inst, op, raw)
	if err != nil {
		return out, err
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: decode %s: %v", op, b, err)
	}
	return out, nil
}

// do performs an operation on inst as the host does. inst is the host's
// view of an instance in the plugin (configure: sdktest.Connect), which
// sends the call there, or an *sdktest.Instance opened in process
// (sdktest.Open, local), which calls its resource type's operations.
func do(ctx context.Context, inst sdk.Instance, op string, args json.RawMessage) (any, error) {
	return inst.(sdk.Invoker).Invoke(ctx, sdk.InvokeRequest{Operation: op, Args: args})
}

// local returns inst, an instance of a resource of type typ configured
// in process, with its type, for do.
func local(typ string, inst sdk.Instance) *sdktest.Instance {
	t, _ := kafka.New().Info().Type(typ)
	return &sdktest.Instance{Instance: inst, Type: t}
}

// checkMistakes makes each mistake's call on inst, with do, and checks its
// error as sdktest.CheckMistakes does.
func checkMistakes(t *testing.T, inst sdk.Instance, mistakes []sdktest.Mistake) {
	t.Helper()
	for _, m := range mistakes {
		t.Run(m.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err := do(ctx, inst, m.Op, json.RawMessage(m.Args))
			sdktest.CheckMistake(t, m, err)
		})
	}
}

type none struct{}

func wantKind(t testing.TB, err error, kind sdk.Kind) {
	t.Helper()
	if k := sdk.KindOf(err); k != kind {
		t.Fatalf("error kind %q, want %q (err: %v)", k, kind, err)
	}
}

// produceN writes n records with keys key-00000... and values value-i to
// the topic through the driver, in batches, acks all.
func produceN(t testing.TB, topic string, n int) {
	t.Helper()
	p := producer(t, nil)
	const batch = 1000
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		var keys, values []string
		for i := start; i < end; i++ {
			keys = append(keys, key(i))
			values = append(values, "value-"+key(i))
		}
		res := call[sdk.StreamProduceBatchResult](t, p, "produce_batch", map[string]any{"topic": topic, "keys": keys, "values": values})
		if len(res.Records) != end-start {
			t.Fatalf("produce_batch returned %d positions for %d records", len(res.Records), end-start)
		}
	}
}

func key(i int) string { return fmt.Sprintf("key-%05d", i) }

// waitAssigned waits until every instance has at least one partition
// assigned and together they hold want partitions.
func waitAssigned(t testing.TB, want int, insts ...sdk.Instance) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		total, all := 0, true
		for _, inst := range insts {
			a := call[kafka.AssignmentResult](t, inst, "assignment", none{})
			total += len(a.Partitions)
			all = all && len(a.Partitions) > 0
		}
		if all && total == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the members hold %d partitions (all members assigned: %v), want %d", total, all, want)
		}
		// Polling lets a waiting rebalance through; nothing is
		// produced yet, so nothing is handed out.
		for _, inst := range insts {
			call[sdk.StreamPollResult](t, inst, "poll", map[string]any{"max_records": 1, "timeout": "50ms"})
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
