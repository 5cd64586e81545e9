package redis

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// TestKeySlotMatchesTheServer compares keySlot with CLUSTER KEYSLOT,
// including hash tags.
func TestKeySlotMatchesTheServer(t *testing.T) {
	v := os.Getenv("NEBULA_TEST_REDIS_CLUSTER")
	if v == "" {
		v = "127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"
	}
	c := goredis.NewClient(&goredis.Options{Addr: strings.Split(v, ",")[0]})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys := []string{"", "a", "foo", "{user1000}.following", "{user1000}.followers", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{}", "}{", "{a", "é", "\x00\xff"}
	for i := range 300 {
		keys = append(keys, fmt.Sprintf("nebula:%d", i))
	}
	for _, k := range keys {
		want, err := c.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v\nRun `scripts/testenv up` (or `make test`) to start the cluster.", k, err)
		}
		if got := keySlot(k); got != int(want) {
			t.Fatalf("keySlot(%q) = %d, CLUSTER KEYSLOT says %d", k, got, want)
		}
	}
}

func TestGroupBySlot(t *testing.T) {
	keys := []string{"{a}1", "b", "{a}2", "c", "b"}
	groups := groupBySlot(keys)
	if len(groups) != 3 {
		t.Fatalf("%d groups: %+v", len(groups), groups)
	}
	if g := groups[0]; g.slot != keySlot("a") || fmt.Sprint(g.keys) != "[{a}1 {a}2]" || fmt.Sprint(g.index) != "[0 2]" {
		t.Fatalf("group 0: %+v", g)
	}
	if g := groups[1]; fmt.Sprint(g.keys) != "[b b]" || fmt.Sprint(g.index) != "[1 4]" {
		t.Fatalf("group 1: %+v", g)
	}
}
