package kafka

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/semaphore"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// invoke performs an operation on the producer p as the host does, through
// the driver's "kafka" type.
func invoke(ctx context.Context, p *ProducerInstance, op, args string) (any, error) {
	typ, _ := New().Info().Type(ProducerType)
	return typ.Invoke(ctx, p, sdk.InvokeRequest{Operation: op, Args: json.RawMessage(args)})
}

// A call that finds the instance's buffer full waits for room only while
// its context lasts, then returns having handed franz-go nothing (no
// broker is needed: the call never gets that far).
func TestProduceWaitsForRoomOnlyWhileItsContextLasts(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cfg := ProducerConfig{Partitioner: "hash", Acks: "all"}
	p := &ProducerInstance{res: &ProducerResource{resource: newResource("test", cfg.connection()), cfg: cfg}, cl: cl, room: semaphore.NewWeighted(1)}
	if !p.room.TryAcquire(1) {
		t.Fatal("the room is taken")
	}
	for _, op := range []struct{ name, args string }{
		{"produce", `{"topic":"t","value":"v"}`},
		{"produce_batch", `{"topic":"t","values":["v"]}`},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		start := time.Now()
		_, err := invoke(ctx, p, op.name, op.args)
		cancel()
		if k := sdk.KindOf(err); k != sdk.KindTimeout {
			t.Fatalf("%s: error kind %q, want timeout (err: %v)", op.name, k, err)
		}
		if !strings.Contains(err.Error(), "none of its records was sent") {
			t.Errorf("%s: the error does not say that nothing was sent: %v", op.name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: returned after %v", op.name, d)
		}
		if n := cl.BufferedProduceRecords(); n != 0 {
			t.Fatalf("%s: franz-go holds %d records", op.name, n)
		}
	}
}
