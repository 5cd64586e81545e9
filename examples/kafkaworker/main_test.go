package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is what the program prints on a new topic and group: the
// partitions each worker holds, and so how many records each processes,
// differ from run to run; where the keys go does not.
var want = regexp.MustCompile(`^topic (\S+): 3 partitions; group (\S+)
the group split the partitions between the 2 workers: \[([0-2 ]+)\] and \[([0-2 ]+)\]
produced 30 records
processed 30 records, each once, and committed their offsets: worker 1 (\d+), worker 2 (\d+)
committed offsets: partition 0 at 11, partition 1 at 9, partition 2 at 10; lag 0
the host stopped: its members left the group
the host started again; produced 10 more records before any worker ran: lag 10
the workers resumed at the committed offsets: partition 0 at 11, partition 1 at 9, partition 2 at 10
processed 10 records, each once: worker 1 (\d+), worker 2 (\d+); lag 0
$`)

// The program, on kafkaworker.hcl, against the Kafka-protocol broker of
// scripts/testenv (NEBULA_TEST_KAFKA_BROKERS) with the plugin binary built
// from this checkout, on a topic and a group of the test's own: the two
// workers split the three partitions, both process records, every record
// is processed once, and after the restart the workers begin at the
// committed offsets. The group's offsets, read beside the host, are at
// the end of every partition.
func TestWorkersShareThePartitionsAndResumeAfterARestart(t *testing.T) {
	brokers := kafkaBrokers(t)
	t.Setenv("KAFKA_BROKERS", strings.Join(brokers, ","))
	topic, group := "nebula-kafkaworker-test-"+random(), "nebula-kafkaworker-test-"+random()
	adm := admin(t, brokers)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adm.DeleteGroup(ctx, group); err != nil {
			t.Errorf("deleting group %s: %v", group, err)
		}
		if _, err := adm.DeleteTopic(ctx, topic); err != nil {
			t.Errorf("deleting topic %s: %v", topic, err)
		}
	})

	var out bytes.Buffer
	if err := run(t.Context(), "kafkaworker.hcl", buildPlugin(t), topic, group, &out); err != nil {
		t.Fatalf("run: %v\nprinted:\n%s", err, out.String())
	}
	m := want.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("printed\n%s\nwant lines matching\n%s", out.String(), want)
	}
	if m[1] != topic || m[2] != group {
		t.Errorf("the program used topic %s and group %s; want %s and %s", m[1], m[2], topic, group)
	}
	if parts := strings.Fields(m[3] + " " + m[4]); len(parts) != 3 {
		t.Errorf("the workers held partitions [%s] and [%s]; want the three split between them", m[3], m[4])
	}
	n := func(i int) int {
		v, err := strconv.Atoi(m[i])
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if a, b := n(5), n(6); a == 0 || b == 0 || a+b != 30 {
		t.Errorf("before the restart the workers processed %d and %d records; want both some, 30 in all", a, b)
	}
	if a, b := n(7), n(8); a+b != 10 {
		t.Errorf("after the restart the workers processed %d and %d records; want 10 in all", a, b)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	lag, err := adm.Lag(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	gl, ok := lag[group]
	if !ok || gl.Error() != nil {
		t.Fatalf("the group's lag: %+v", gl)
	}
	var committed int64
	for _, ps := range gl.Lag {
		for _, l := range ps {
			if l.Lag != 0 {
				t.Errorf("partition %d: committed %d, end %d; want the group at the end", l.Partition, l.Commit.At, l.End.Offset)
			}
			committed += l.Commit.At
		}
	}
	if committed != 40 {
		t.Errorf("the group committed %d offsets in all; want the 40 records", committed)
	}
}

// kafkaBrokers returns the test broker's addresses, and fails the test,
// never skips it, when no broker answers.
func kafkaBrokers(t *testing.T) []string {
	t.Helper()
	brokers := []string{"127.0.0.1:9092"}
	if v := os.Getenv("NEBULA_TEST_KAFKA_BROKERS"); v != "" {
		brokers = strings.Split(v, ",")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := admin(t, brokers).ListBrokers(ctx); err != nil {
		t.Fatalf("no Kafka broker answers at NEBULA_TEST_KAFKA_BROKERS (%s): %v\nRun `scripts/testenv up` (or `make test`) to start one.", strings.Join(brokers, ","), err)
	}
	return brokers
}

// admin returns an admin client of the brokers, closed when the test
// ends.
func admin(t *testing.T, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func random() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// buildPlugin builds nebula-plugin-kafka from this checkout into a
// directory of the test's own, and returns the directory.
func buildPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "nebula-plugin-kafka"),
		"github.com/nebula-resource/nebula-resource/plugins/kafka/cmd/nebula-plugin-kafka")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nebula-plugin-kafka: %v\nprinted:\n%s", err, out)
	}
	return dir
}
