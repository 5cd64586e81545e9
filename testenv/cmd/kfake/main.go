// Command kfake runs a Kafka wire-protocol broker for the integration tests:
// github.com/twmb/franz-go/pkg/kfake, which keeps everything in memory (unless
// -data-dir is set) and has no main of its own. It is one broker with no
// replication; produce, fetch, consumer groups with commits and rebalancing,
// and transactions work. Topics are created on first use (a metadata request
// that asks for it, as producers do) with -partitions partitions.
//
// scripts/testenv builds it into $TESTENV_DIR/bin/kfake and runs it as
//
//	kfake -host 127.0.0.1 -port 9092 -partitions 3
//
// With -check it is a client instead: it asks the broker at -brokers (default
// -host:-port) for its API versions and metadata and exits 0 when both
// answer. -check -roundtrip also produces a record to a new topic (created
// automatically), reads it back in a new consumer group, commits, fetches the
// committed offset, and deletes the topic and the group.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	var (
		host       = flag.String("host", "127.0.0.1", "address to listen on (and to advertise in metadata)")
		port       = flag.Int("port", 9092, "port to listen on (0: any free port)")
		partitions = flag.Int("partitions", 3, "partitions of topics created automatically or with -1 partitions")
		seed       = flag.String("seed-topics", "", "comma-separated topics to create at start, with -partitions partitions")
		dataDir    = flag.String("data-dir", "", "keep the data in this folder across restarts (default: memory only)")
		clusterID  = flag.String("cluster-id", "nebula-testenv", "cluster id in metadata responses")
		minSession = flag.Duration("min-session-timeout", 6*time.Second, "smallest consumer group session timeout allowed (Kafka's group.min.session.timeout.ms)")
		logLevel   = flag.String("log-level", "warn", "none, error, warn, info or debug (to stderr)")

		check     = flag.Bool("check", false, "client mode: check that the broker at -brokers answers ApiVersions and Metadata, then exit")
		roundtrip = flag.Bool("roundtrip", false, "with -check: also produce, consume in a consumer group, commit and clean up")
		brokers   = flag.String("brokers", "", "with -check: comma-separated brokers (default -host:-port)")
		timeout   = flag.Duration("timeout", 10*time.Second, "with -check: give up after this long")
	)
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: kfake [flags]            serve\n       kfake -check [-roundtrip] [flags]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}

	if *check {
		seeds := splitList(*brokers)
		if len(seeds) == 0 {
			seeds = []string{net.JoinHostPort(*host, strconv.Itoa(*port))}
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		err := runCheck(ctx, seeds, *roundtrip)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "kfake -check %s: %v\n", strings.Join(seeds, ","), err)
			os.Exit(1)
		}
		return
	}

	level, err := parseLevel(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(2)
	}
	if *partitions < 1 {
		fmt.Fprintln(os.Stderr, "kfake: -partitions must be at least 1")
		os.Exit(2)
	}
	listenHost := *host
	opts := []kfake.Opt{
		kfake.Ports(*port), // one broker
		// kfake listens on 127.0.0.1; listen on -host instead.
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(listenHost, p))
		}),
		kfake.ClusterID(*clusterID),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
		kfake.GroupMinSessionTimeout(*minSession),
		kfake.WithLogger(kfake.BasicLogger(os.Stderr, level)),
	}
	if ts := splitList(*seed); len(ts) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), ts...))
	}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "kfake: listening on %s (cluster %s, %d partitions per new topic, pid %d)\n",
		strings.Join(c.ListenAddrs(), ","), *clusterID, *partitions, os.Getpid())

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	s := <-sigs
	fmt.Fprintf(os.Stderr, "kfake: %v, shutting down\n", s)
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-sigs: // a second signal: do not wait for the data to be saved
		os.Exit(1)
	case <-time.After(20 * time.Second):
		fmt.Fprintln(os.Stderr, "kfake: shutdown took too long")
		os.Exit(1)
	}
}

func runCheck(ctx context.Context, seeds []string, roundtrip bool) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("nebula-testenv-check"),
		kgo.DialTimeout(2*time.Second),
		kgo.AllowAutoTopicCreation(),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	start := time.Now()
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return fmt.Errorf("metadata request: %w", err)
	}
	if len(meta.Brokers) == 0 {
		return errors.New("the metadata response lists no brokers")
	}
	vs, err := adm.ApiVersions(ctx) // asks every broker in the metadata
	if err != nil {
		return fmt.Errorf("ApiVersions: %w", err)
	}
	napis, guess := 0, ""
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			return fmt.Errorf("ApiVersions from broker %d: %w", v.NodeID, v.Err)
		}
		napis = 0
		v.EachKeySorted(func(int16, int16, int16) { napis++ })
		guess = v.VersionGuess()
	}
	fmt.Printf("kafka at %s: cluster %s, broker(s) %v, %d API keys (%s) in %v\n",
		strings.Join(seeds, ","), meta.Cluster, meta.Brokers.NodeIDs(), napis, guess,
		time.Since(start).Round(time.Millisecond))
	if !roundtrip {
		return nil
	}
	return runRoundtrip(ctx, cl, adm, seeds)
}

// runRoundtrip: produce one record to a topic that does not exist yet, read it
// back in a new consumer group, commit, check the committed offset, clean up.
func runRoundtrip(ctx context.Context, cl *kgo.Client, adm *kadm.Client, seeds []string) (err error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	topic := "testenv-check-" + hex.EncodeToString(rnd[:])
	group := topic + "-group"
	step := time.Now()
	lap := func(what string) {
		fmt.Printf("  %-40s %v\n", what, time.Since(step).Round(time.Millisecond))
		step = time.Now()
	}

	defer func() { // clean up even when a step failed
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, derr := adm.DeleteGroup(cctx, group); derr != nil && err == nil {
			err = fmt.Errorf("DeleteGroups %s: %w", group, derr)
		}
		if _, derr := adm.DeleteTopic(cctx, topic); derr != nil && err == nil {
			err = fmt.Errorf("DeleteTopics %s: %w", topic, derr)
		}
		if err == nil {
			lap("deleted group and topic")
		}
	}()

	want := &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("hello " + topic)}
	if err := cl.ProduceSync(ctx, want).FirstErr(); err != nil {
		return fmt.Errorf("produce to %s: %w", topic, err)
	}
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("metadata request for topic %s: %w", topic, err)
	}
	lap(fmt.Sprintf("produced to %s[%d]@%d (%d partitions)", topic, want.Partition, want.Offset,
		len(tds[topic].Partitions)))

	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("nebula-testenv-check"),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			consumer.Close()
		}
	}()

	var got *kgo.Record
	for got == nil {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consume %s in group %s: %w", topic, group, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			return fmt.Errorf("consume %s: %w", topic, errs[0].Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == string(want.Value) {
				got = r
			}
		})
	}
	lap(fmt.Sprintf("consumed in group %s", group))

	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return fmt.Errorf("OffsetFetch %s: %w", group, err)
	}
	o, ok := offs.Lookup(topic, got.Partition)
	if !ok || o.Err != nil || o.At != got.Offset+1 {
		return fmt.Errorf("committed offset of %s[%d] is %+v, want %d", topic, got.Partition, o, got.Offset+1)
	}
	lap(fmt.Sprintf("committed offset %d, fetched it back", o.At))
	consumer.Close() // leaves the group, so that it can be deleted
	closed = true
	lap("left the group")
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseLevel(s string) (kfake.LogLevel, error) {
	switch strings.ToLower(s) {
	case "none":
		return kfake.LogLevelNone, nil
	case "error":
		return kfake.LogLevelError, nil
	case "warn":
		return kfake.LogLevelWarn, nil
	case "info":
		return kfake.LogLevelInfo, nil
	case "debug":
		return kfake.LogLevelDebug, nil
	}
	return 0, fmt.Errorf("unknown -log-level %q", s)
}
