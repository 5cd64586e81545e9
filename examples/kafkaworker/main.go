// Command kafkaworker runs the workers of a Kafka consumer group through
// a host embedded in the program: two workers, each holding one member
// of the group (a lease of the kafka_consumer resource), share the
// topic's partitions, process each record once, and commit its offset
// after processing it; a restart resumes from the committed offsets.
//
// The program
//
//  1. creates the topic (3 partitions) unless it exists;
//  2. starts two workers and waits until the group has split the
//     partitions between them;
//  3. produces 30 records, which the workers poll, process and commit;
//  4. stops the workers and the host, and produces 10 more records with
//     no worker running;
//  5. starts the host and the workers again: they begin each partition at
//     the offset committed before the restart, and process the 10 new
//     records only.
//
// Run it from the repository root, after make build, against the brokers
// that KAFKA_BROKERS names, by default 127.0.0.1:9092 (scripts/testenv up
// starts one there):
//
//	go run ./examples/kafkaworker
//	go run ./examples/kafkaworker -topic invoices -group invoicing
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() {
	configPath := flag.String("config", "examples/kafkaworker/kafkaworker.hcl", "configuration with a kafka and a kafka_consumer resource")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	topic := flag.String("topic", "kafkaworker-orders", "the topic; created with 3 partitions if it does not exist")
	group := flag.String("group", "kafkaworker-example", "the consumer group")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *configPath, *pluginDir, *topic, *group, os.Stdout); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "kafkaworker: %v\n", err)
		}
		os.Exit(1)
	}
}

const (
	producer   = "kafka.events"
	consumer   = "kafka_consumer.workers"
	workerN    = 2  // workers, one member of the group each
	partitionN = 3  // partitions of the topic the program creates
	firstN     = 30 // records produced while the workers run
	laterN     = 10 // records produced while no worker runs
	// waitFor bounds each wait: for the group to settle, for the records
	// to be processed.
	waitFor = 60 * time.Second
)

func run(ctx context.Context, configPath, pluginDir, topic, group string, out io.Writer) error {
	// A host takes a configuration of its own: each start loads it.
	load := func() (*config.Config, error) {
		cfg, diags := config.Load(configPath, config.WithVariables(map[string]string{"topic": topic, "group": group}))
		if diags.HasErrors() {
			return nil, &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
		}
		return cfg, nil
	}
	// Records of this run carry its ID in their value, so that records
	// an interrupted earlier run left uncommitted are told apart.
	var b [4]byte
	_, _ = rand.Read(b[:])
	runID := hex.EncodeToString(b[:])

	var committed map[int32]int64 // by partition, at the end of the first host
	err := withHost(ctx, load, pluginDir, func(h *host.Host) error {
		parts, err := createTopic(ctx, h, topic)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "topic %s: %d partitions; group %s\n", topic, parts, group)

		ws := startWorkers(ctx, h, runID)
		defer ws.stop()
		assigned, err := ws.waitAssigned(ctx, parts)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "the group split the partitions between the %d workers: %v and %v\n", workerN, assigned[0], assigned[1])

		if err := produce(ctx, h, topic, runID, 1, firstN); err != nil {
			return err
		}
		fmt.Fprintf(out, "produced %d records\n", firstN)
		if err := ws.waitCommitted(ctx, firstN); err != nil {
			return err
		}
		if err := ws.stop(); err != nil {
			return err
		}
		if err := ws.check(1, firstN); err != nil {
			return err
		}
		fmt.Fprintf(out, "processed %d records, each once, and committed their offsets: worker 1 %d, worker 2 %d\n",
			firstN, ws.byWorker[0], ws.byWorker[1])

		lag, err := groupLag(ctx, h)
		if err != nil {
			return err
		}
		committed = map[int32]int64{}
		for _, p := range lag.Partitions {
			committed[p.Partition] = p.Committed
		}
		fmt.Fprintf(out, "committed offsets: %s; lag %d\n", offsets(committed), lag.Total)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "the host stopped: its members left the group")

	return withHost(ctx, load, pluginDir, func(h *host.Host) error {
		if err := produce(ctx, h, topic, runID, firstN+1, laterN); err != nil {
			return err
		}
		lag, err := groupLag(ctx, h)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "the host started again; produced %d more records before any worker ran: lag %d\n", laterN, lag.Total)

		ws := startWorkers(ctx, h, runID)
		defer ws.stop()
		if err := ws.waitCommitted(ctx, laterN); err != nil {
			return err
		}
		if err := ws.stop(); err != nil {
			return err
		}
		if err := ws.check(firstN+1, laterN); err != nil {
			return err
		}
		// Each partition's first record after the restart is the one at
		// the offset committed before it: nothing skipped, nothing again.
		for p, off := range ws.first {
			if off != committed[p] {
				return fmt.Errorf("after the restart, partition %d began at offset %d; the group had committed %d", p, off, committed[p])
			}
		}
		fmt.Fprintf(out, "the workers resumed at the committed offsets: %s\n", offsets(ws.first))
		if lag, err = groupLag(ctx, h); err != nil {
			return err
		}
		fmt.Fprintf(out, "processed %d records, each once: worker 1 %d, worker 2 %d; lag %d\n",
			laterN, ws.byWorker[0], ws.byWorker[1], lag.Total)
		return nil
	})
}

// withHost starts a host on the configuration load returns, runs fn, and
// closes the host: its consumer group members leave the group.
func withHost(ctx context.Context, load func() (*config.Config, error), pluginDir string, fn func(*host.Host) error) (err error) {
	cfg, err := load()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := host.New(cfg, host.WithLogger(log), host.WithPluginDir(pluginDir))
	if err != nil {
		return err
	}
	if err := h.Start(ctx); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.Host.ShutdownTimeout)
		defer cancel()
		if cerr := h.Close(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the host: %w", cerr))
		}
	}()
	return fn(h)
}

// createTopic creates the topic unless it exists, and returns its
// number of partitions.
func createTopic(ctx context.Context, h *host.Host, topic string) (int, error) {
	res, err := host.Call[struct {
		Partitions int `json:"partitions"`
	}](ctx, h, producer, "create_topic", map[string]any{"name": topic, "partitions": partitionN, "if_not_exists": true})
	if err != nil {
		return 0, err
	}
	if res.Partitions < workerN {
		return 0, fmt.Errorf("topic %s has %d partition(s): the %d workers cannot share them", topic, res.Partitions, workerN)
	}
	return res.Partitions, nil
}

// order is a record's value.
type order struct {
	Run   string `json:"run"`
	Order int    `json:"order"`
}

// produce writes the orders from, from+1, ... (n of them), keyed
// "order-N": the hash partitioner sends a key to the same partition
// every time.
func produce(ctx context.Context, h *host.Host, topic, runID string, from, n int) error {
	keys := make([]string, n)
	values := make([]string, n)
	for i := range n {
		v, err := json.Marshal(order{Run: runID, Order: from + i})
		if err != nil {
			return err
		}
		keys[i], values[i] = fmt.Sprintf("order-%d", from+i), string(v)
	}
	_, err := h.Invoke(ctx, producer, "produce_batch", map[string]any{"topic": topic, "keys": keys, "values": values},
		host.ForWorkflow("kafkaworker-example"), host.ForStep("produce"))
	return err
}

// groupLag returns the group's committed offsets and lag. It takes a
// member of the pool: call it while no worker holds one.
func groupLag(ctx context.Context, h *host.Host) (sdk.StreamLagResult, error) {
	return host.Call[sdk.StreamLagResult](ctx, h, consumer, "lag", nil, host.ForWorkflow("kafkaworker-example"), host.ForStep("lag"))
}

// offsets formats offsets by partition.
func offsets(byPartition map[int32]int64) string {
	var s []string
	for _, p := range slices.Sorted(maps.Keys(byPartition)) {
		s = append(s, fmt.Sprintf("partition %d at %d", p, byPartition[p]))
	}
	return strings.Join(s, ", ")
}

// workers are the worker goroutines of one host, and what they did.
type workers struct {
	h      *host.Host
	runID  string
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	err       error      // the first worker's failure
	assigned  [workerN][]int32
	processed map[int]int     // times each order of this run was processed
	byWorker  [workerN]int    // records of this run each worker processed
	first     map[int32]int64 // the first offset processed in each partition
	committed int             // records of this run processed and committed
}

// startWorkers starts workerN workers, each of which leases one member of
// the group until stop.
func startWorkers(ctx context.Context, h *host.Host, runID string) *workers {
	ctx, cancel := context.WithCancel(ctx)
	ws := &workers{h: h, runID: runID, cancel: cancel, processed: map[int]int{}, first: map[int32]int64{}}
	for id := range workerN {
		ws.wg.Go(func() {
			if err := ws.work(ctx, id); err != nil {
				ws.mu.Lock()
				if ws.err == nil {
					ws.err = fmt.Errorf("worker %d: %w", id+1, err)
				}
				ws.mu.Unlock()
			}
		})
	}
	return ws
}

// work is one worker: poll, process, commit, until ctx ends.
func (ws *workers) work(ctx context.Context, id int) error {
	lease, err := ws.h.Acquire(ctx, consumer, host.ForWorkflow("kafkaworker-example"), host.ForStep(fmt.Sprintf("worker-%d", id+1)))
	if err != nil {
		return err
	}
	// Releasing the lease keeps the member in the group and hands what it
	// polled and did not commit out again.
	defer lease.Release()
	for {
		raw, err := lease.Invoke(ctx, "poll", map[string]any{"max_records": 100, "timeout": "200ms"})
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped
			}
			return err
		}
		var batch sdk.StreamPollResult
		if err := json.Unmarshal(raw, &batch); err != nil {
			return err
		}
		for _, r := range batch.Records {
			ws.process(id, r)
		}
		if len(batch.Records) > 0 {
			// Commit once the batch is processed. A stop does not cut the
			// commit short: the batch would be handed out again.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_, err := lease.Invoke(cctx, "commit", nil)
			cancel()
			if err != nil {
				return err
			}
			ws.done(batch.Records)
		}
		if err := ws.assignment(ctx, id, lease); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// process processes one record: here, it counts the order.
func (ws *workers) process(id int, r sdk.StreamRecord) {
	var o order
	if err := json.Unmarshal([]byte(r.Value), &o); err != nil || o.Run != ws.runID {
		return // a record of an earlier run, or of another producer
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.processed[o.Order]++
	ws.byWorker[id]++
	if _, ok := ws.first[r.Partition]; !ok {
		ws.first[r.Partition] = r.Offset
	}
}

// done counts the records of this run in a batch whose offsets are
// committed.
func (ws *workers) done(batch []sdk.StreamRecord) {
	n := 0
	for _, r := range batch {
		var o order
		if json.Unmarshal([]byte(r.Value), &o) == nil && o.Run == ws.runID {
			n++
		}
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.committed += n
}

// assignment records the partitions the worker's member holds.
func (ws *workers) assignment(ctx context.Context, id int, lease *host.Lease) error {
	raw, err := lease.Invoke(ctx, "assignment", nil)
	if err != nil {
		return err
	}
	var a struct {
		Partitions []struct {
			Partition int32 `json:"partition"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return err
	}
	parts := make([]int32, len(a.Partitions))
	for i, p := range a.Partitions {
		parts[i] = p.Partition
	}
	slices.Sort(parts)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.assigned[id] = parts
	return nil
}

// waitAssigned waits until every worker's member holds partitions and
// together they hold the topic's n, and returns each worker's.
func (ws *workers) waitAssigned(ctx context.Context, n int) ([workerN][]int32, error) {
	var assigned [workerN][]int32
	err := ws.wait(ctx, "the group to split the partitions", func() bool {
		total := 0
		for _, parts := range ws.assigned {
			if len(parts) == 0 {
				return false
			}
			total += len(parts)
		}
		assigned = ws.assigned
		return total == n
	})
	return assigned, err
}

// waitCommitted waits until the workers have processed and committed n
// records of this run.
func (ws *workers) waitCommitted(ctx context.Context, n int) error {
	return ws.wait(ctx, fmt.Sprintf("%d records processed and committed", n), func() bool { return ws.committed >= n })
}

// wait waits until cond, called with ws.mu held, holds, for at most
// waitFor. A worker's failure ends the wait.
func (ws *workers) wait(ctx context.Context, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ws.mu.Lock()
		ok, err := cond(), ws.err
		ws.mu.Unlock()
		switch {
		case err != nil:
			return err
		case ok:
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

// stop stops the workers, waits until they have released their leases,
// and returns the first worker's failure. It may be called more than
// once.
func (ws *workers) stop() error {
	ws.cancel()
	ws.wg.Wait()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.err
}

// check says whether the orders from, ..., from+n-1 were each processed
// once, and no other. Call it after stop.
func (ws *workers) check(from, n int) error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for i := from; i < from+n; i++ {
		if ws.processed[i] != 1 {
			return fmt.Errorf("order %d was processed %d times; want once", i, ws.processed[i])
		}
	}
	if len(ws.processed) != n {
		return fmt.Errorf("processed %d distinct orders; want %d (orders %d to %d)", len(ws.processed), n, from, from+n-1)
	}
	return nil
}
