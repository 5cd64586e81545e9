package redis_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// slotOwners maps each hash slot to the address of the master that serves
// it, from CLUSTER SHARDS.
func slotOwners(t *testing.T, admin *goredis.ClusterClient) map[int]string {
	t.Helper()
	shards, err := admin.ClusterShards(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	owners := map[int]string{}
	for _, sh := range shards {
		var master string
		for _, n := range sh.Nodes {
			if n.Role == "master" {
				master = net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
			}
		}
		for _, r := range sh.Slots {
			for slot := r.Start; slot <= r.End; slot++ {
				owners[int(slot)] = master
			}
		}
	}
	return owners
}

// spreadKeys returns perMaster keys under prefix p for each master of the
// cluster, each key with the master that owns it, found with CLUSTER
// KEYSLOT and CLUSTER SHARDS.
func spreadKeys(t *testing.T, admin *goredis.ClusterClient, p string, perMaster int) map[string]string {
	t.Helper()
	owners := slotOwners(t, admin)
	masters := map[string]bool{}
	for _, a := range owners {
		masters[a] = true
	}
	if len(masters) < 3 {
		t.Fatalf("the cluster has %d masters, want 3", len(masters))
	}
	keys := map[string]string{}
	count := map[string]int{}
	for i := 0; len(keys) < perMaster*len(masters); i++ {
		key := fmt.Sprintf("%sspread:%d", p, i)
		slot, err := admin.ClusterKeySlot(t.Context(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		owner := owners[int(slot)]
		if count[owner] < perMaster {
			count[owner]++
			keys[key] = owner
		}
		if i > 100000 {
			t.Fatal("could not find keys for every master")
		}
	}
	return keys
}

// TestClusterKeysOnEveryMaster writes keys that CLUSTER KEYSLOT places on
// each of the three masters through the plugin, in single and multi-key
// operations, reads them back from the master that owns each one, and
// removes them.
func TestClusterKeysOnEveryMaster(t *testing.T) {
	m := cluster(t)
	admin := m.admin.(*goredis.ClusterClient)
	inst := openKV(t, m.config)
	p := prefix(t, admin)
	keys := spreadKeys(t, admin, p, 5)
	names := make([]string, 0, len(keys))
	values := map[string]string{}
	for k := range keys {
		names = append(names, k)
		values[k] = "v:" + k
	}
	slices.Sort(names)

	// direct reads a key from the node that owns it, with no redirection.
	direct := func(key string) (string, error) {
		c := goredis.NewClient(&goredis.Options{Addr: keys[key]})
		defer c.Close()
		return c.Get(context.Background(), key).Result()
	}

	call[sdk.KVSetResult](t, inst, "mset", args{"values": values})
	perNode := map[string]int{}
	for _, k := range names {
		got, err := direct(k)
		if err != nil || got != values[k] {
			t.Fatalf("%s on its master %s: %q, %v", k, keys[k], got, err)
		}
		perNode[keys[k]]++
	}
	if len(perNode) != 3 {
		t.Fatalf("keys landed on %d masters: %v", len(perNode), perNode)
	}

	r := call[sdk.KVMGetResult](t, inst, "mget", args{"keys": names})
	for i, k := range names {
		if !r.Values[i].Found || r.Values[i].Value != values[k] {
			t.Fatalf("mget[%d] %s: %+v", i, k, r.Values[i])
		}
	}
	if n := call[sdk.KVCountResult](t, inst, "exists", args{"keys": names}).Count; n != int64(len(names)) {
		t.Fatalf("exists: %d, want %d", n, len(names))
	}
	// Single-key operations reach each master.
	for _, k := range names {
		call[sdk.KVSetResult](t, inst, "set", args{"key": k, "value": "single", "ttl": "1m"})
		if got, _ := direct(k); got != "single" {
			t.Fatalf("set %s: its master holds %q", k, got)
		}
	}
	call[sdk.KVSetResult](t, inst, "mset", args{"values": values, "ttl": "1m"})
	for _, k := range names {
		if pt := admin.PTTL(t.Context(), k).Val(); pt <= 0 {
			t.Fatalf("%s has no ttl after mset with ttl", k)
		}
	}
	if n := call[sdk.KVCountResult](t, inst, "delete", args{"keys": names}).Count; n != int64(len(names)) {
		t.Fatalf("delete: %d, want %d", n, len(names))
	}
	for _, k := range names {
		if _, err := direct(k); err != goredis.Nil {
			t.Fatalf("%s is still on %s after delete (%v)", k, keys[k], err)
		}
	}
}

// TestClusterScanVisitsEveryMaster checks that a scan in pages walks the
// three masters one after the other and finds every key.
func TestClusterScanVisitsEveryMaster(t *testing.T) {
	m := cluster(t)
	admin := m.admin.(*goredis.ClusterClient)
	inst := openKV(t, m.config)
	p := prefix(t, admin)
	keys := spreadKeys(t, admin, p, 20)
	for k := range keys {
		admin.Set(t.Context(), k, "x", 0)
	}
	found := map[string]bool{}
	nodes := map[string]bool{}
	cursor := ""
	for range 1000 {
		r := call[sdk.KVScanResult](t, inst, "scan", args{"pattern": p + "spread:*", "cursor": cursor, "count": 7})
		for _, k := range r.Keys {
			if _, ok := keys[k]; !ok {
				t.Fatalf("scan returned %q", k)
			}
			found[k] = true
		}
		if r.Cursor == "" {
			break
		}
		node, _, ok := strings.Cut(r.Cursor, ":")
		if !ok {
			t.Fatalf("cluster cursor %q", r.Cursor)
		}
		nodes[node] = true
		cursor = r.Cursor
	}
	if len(found) != len(keys) {
		t.Fatalf("scan found %d of %d keys", len(found), len(keys))
	}
	if len(nodes) < 2 {
		t.Fatalf("the cursors named masters %v; want the scan to move from master to master", nodes)
	}
	// A cursor past the masters the cluster has is refused.
	fails(t, inst, "scan", args{"cursor": "9:0"}, sdk.KindFailedPrecondition, "")
}
