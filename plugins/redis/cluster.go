package redis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// slotCount is the number of hash slots of Redis Cluster.
const slotCount = 16384

// crcTable is the table of CRC16-CCITT (XMODEM), the checksum Redis Cluster
// hashes keys with.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()

func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^s[i]]
	}
	return crc
}

// keySlot returns the hash slot of key, as CLUSTER KEYSLOT does: when the
// key holds a non-empty {hash tag}, only the tag is hashed.
func keySlot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	return int(crc16(key)) % slotCount
}

// slotGroup is the keys of one hash slot, with their indexes in the request.
type slotGroup struct {
	slot  int
	keys  []string
	index []int
}

// groupBySlot splits keys by hash slot, in the order the slots first
// appear; keys keep their order within a group.
func groupBySlot(keys []string) []slotGroup {
	var groups []slotGroup
	at := map[int]int{}
	for i, k := range keys {
		s := keySlot(k)
		g, ok := at[s]
		if !ok {
			g = len(groups)
			at[s] = g
			groups = append(groups, slotGroup{slot: s})
		}
		groups[g].keys = append(groups[g].keys, k)
		groups[g].index = append(groups[g].index, i)
	}
	return groups
}

// groupConcurrency bounds the commands a multi-key operation has in flight
// at once in cluster mode.
const groupConcurrency = 16

// forEachGroup runs fn for each group, several at once, and returns the
// first error.
func forEachGroup(ctx context.Context, groups []slotGroup, fn func(ctx context.Context, i int, g slotGroup) error) error {
	if len(groups) == 1 {
		return fn(ctx, 0, groups[0])
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(groupConcurrency)
	for i, g := range groups {
		eg.Go(func() error { return fn(ctx, i, g) })
	}
	return eg.Wait()
}

// masters returns a client for each master of the cluster, ordered by
// address, so that a scan cursor can name one by its index.
func (o *kvOps) masters(ctx context.Context) ([]*goredis.Client, error) {
	var mu sync.Mutex
	var out []*goredis.Client
	err := o.cluster.ForEachMaster(ctx, func(_ context.Context, c *goredis.Client) error {
		mu.Lock()
		out = append(out, c)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *goredis.Client) int { return strings.Compare(a.Options().Addr, b.Options().Addr) })
	return out, nil
}

// scanCluster scans the masters one after the other. Its cursor is
// "<master index>:<that master's SCAN cursor>".
func (o *kvOps) scanCluster(ctx context.Context, args sdk.KVScanArgs) (sdk.KVScanResult, error) {
	masters, err := o.masters(ctx)
	if err != nil {
		return sdk.KVScanResult{}, o.wrap(ctx, err, "scan")
	}
	node, cursor := 0, uint64(0)
	if args.Cursor != "" {
		n, c, ok := strings.Cut(args.Cursor, ":")
		var err1, err2 error
		node, err1 = strconv.Atoi(n)
		cursor, err2 = strconv.ParseUint(c, 10, 64)
		if !ok || err1 != nil || err2 != nil || node < 0 {
			return sdk.KVScanResult{}, sdk.Errorf(sdk.KindInvalidArgument, "cursor %q was not returned by scan on this resource", args.Cursor)
		}
		if node >= len(masters) {
			return sdk.KVScanResult{}, sdk.Errorf(sdk.KindFailedPrecondition, "cursor %q names master %d, but the cluster now has %d masters: start the scan again", args.Cursor, node, len(masters))
		}
	}
	res := sdk.KVScanResult{Keys: []string{}}
	for node < len(masters) {
		keys, next, err := masters[node].Scan(ctx, cursor, args.Pattern, int64(args.Count)).Result()
		if err != nil {
			return sdk.KVScanResult{}, o.wrap(ctx, err, "scan "+masters[node].Options().Addr)
		}
		res.Keys = append(res.Keys, keys...)
		if next != 0 {
			res.Cursor = fmt.Sprintf("%d:%d", node, next)
			return res, nil
		}
		node, cursor = node+1, 0
		if len(res.Keys) >= args.Count {
			break
		}
	}
	if node < len(masters) {
		res.Cursor = fmt.Sprintf("%d:0", node)
	}
	return res, nil
}
