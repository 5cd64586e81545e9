package memory

import (
	"container/heap"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/maypok86/otter/v2"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// scan pages through the keys in byte order. The cache has no ordered
// iteration, so each page walks every key, keeps the count smallest
// matching keys above the cursor (in a heap, so a page costs O(n log
// count) time and O(count) memory, whatever the size of the cache), and
// returns them sorted. The cursor is the last key returned, encoded. So a
// key present and matching for the whole scan is returned exactly once,
// and one added, removed or expiring during the scan may or may not be, as
// with Redis's SCAN. The last page's cursor is "".
func (i *Instance) scan(ctx context.Context, c *otter.Cache[string, item], args sdk.KVScanArgs) (any, error) {
	g, err := compileGlob(args.Pattern)
	if err != nil {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "pattern %q: %v", args.Pattern, err)
	}
	after, err := decodeCursor(args.Cursor)
	if err != nil {
		return nil, err
	}
	page := &maxHeap{}
	more := false
	seen := 0
	for k := range c.Keys() {
		if seen++; seen%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, sdk.WrapError(sdk.KindOf(err), err, "memory scan")
			}
		}
		// Keys are never empty, so with no cursor (after == "") every key
		// is above it.
		if k <= after || !g.match(k) {
			continue
		}
		switch {
		case page.Len() < args.Count:
			heap.Push(page, k)
		case k < (*page)[0]:
			(*page)[0] = k
			heap.Fix(page, 0)
			more = true
		default:
			more = true
		}
	}
	keys := []string(*page)
	if keys == nil {
		keys = []string{}
	}
	slices.Sort(keys)
	cursor := ""
	if more {
		cursor = encodeCursor(keys[len(keys)-1])
	}
	return sdk.KVScanResult{Keys: keys, Cursor: cursor}, nil
}

// A cursor is "k" and the last key returned, in unpadded URL-safe base64:
// opaque, printable whatever bytes the key holds, and checked on the way
// back in.
const cursorPrefix = "k"

func encodeCursor(key string) string {
	return cursorPrefix + base64.RawURLEncoding.EncodeToString([]byte(key))
}

// decodeCursor returns the key a cursor holds, "" for the first page.
func decodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	raw, ok := strings.CutPrefix(cursor, cursorPrefix)
	if ok {
		key, err := base64.RawURLEncoding.DecodeString(raw)
		if err == nil && len(key) > 0 {
			return string(key), nil
		}
	}
	return "", sdk.Errorf(sdk.KindInvalidArgument, `cursor %q is not one that scan returned; pass "" to start`, cursor)
}

// maxHeap is a heap of keys with the greatest on top.
type maxHeap []string

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(x any)        { *h = append(*h, x.(string)) }
func (h *maxHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// glob is a compiled scan pattern. The syntax is Redis's, over bytes: *
// matches any run of bytes (including /, unlike path.Match), ? any one
// byte, [abc] one of a set, [a-z] a range, [^abc] any byte not in the set,
// and \ makes the next byte literal (inside a set too). A pattern with an
// unterminated or empty set, or ending in a lone \, is refused rather than
// guessed at.
type glob []globToken

type globToken struct {
	op     globOp
	lit    byte      // for globLiteral
	negate bool      // for globSet
	ranges [][2]byte // for globSet: inclusive ranges, a single byte as [b, b]
}

type globOp uint8

const (
	globLiteral globOp = iota
	globAnyByte
	globAnyRun
	globSet
)

func compileGlob(pattern string) (glob, error) {
	var g glob
	for i := 0; i < len(pattern); i++ {
		switch b := pattern[i]; b {
		case '*':
			if len(g) == 0 || g[len(g)-1].op != globAnyRun {
				g = append(g, globToken{op: globAnyRun})
			}
		case '?':
			g = append(g, globToken{op: globAnyByte})
		case '\\':
			if i+1 == len(pattern) {
				return nil, fmt.Errorf("ends in a lone \\")
			}
			i++
			g = append(g, globToken{op: globLiteral, lit: pattern[i]})
		case '[':
			tok, next, err := compileSet(pattern, i+1)
			if err != nil {
				return nil, err
			}
			g = append(g, tok)
			i = next
		default:
			g = append(g, globToken{op: globLiteral, lit: b})
		}
	}
	return g, nil
}

// compileSet compiles the set that starts at pattern[i], just after its
// [, and returns the index of its ].
func compileSet(pattern string, i int) (globToken, int, error) {
	tok := globToken{op: globSet}
	if i < len(pattern) && pattern[i] == '^' {
		tok.negate = true
		i++
	}
	// byteAt reads the byte at j, or the one after a \, and returns the
	// index of the last byte it read.
	byteAt := func(j int) (byte, int, bool) {
		if j < len(pattern) && pattern[j] == '\\' {
			j++
		}
		if j >= len(pattern) {
			return 0, j, false
		}
		return pattern[j], j, true
	}
	for ; i < len(pattern); i++ {
		if pattern[i] == ']' {
			if len(tok.ranges) == 0 {
				return tok, i, fmt.Errorf("empty set [] at byte %d", i)
			}
			return tok, i, nil
		}
		lo, j, ok := byteAt(i)
		if !ok {
			break
		}
		hi := lo
		if j+2 < len(pattern) && pattern[j+1] == '-' && pattern[j+2] != ']' {
			if hi, j, ok = byteAt(j + 2); !ok {
				break
			}
			if lo > hi {
				lo, hi = hi, lo
			}
		}
		tok.ranges = append(tok.ranges, [2]byte{lo, hi})
		i = j
	}
	return tok, i, fmt.Errorf("unterminated set: no ]")
}

func (t globToken) matches(b byte) bool {
	switch t.op {
	case globLiteral:
		return b == t.lit
	case globAnyByte:
		return true
	case globSet:
		in := false
		for _, r := range t.ranges {
			if r[0] <= b && b <= r[1] {
				in = true
				break
			}
		}
		return in != t.negate
	}
	return false
}

// match reports whether s matches the whole pattern. Every token but *
// matches exactly one byte, so backtracking to the last * is enough:
// O(len(g)·len(s)) at worst.
func (g glob) match(s string) bool {
	if len(g) == 1 && g[0].op == globAnyRun {
		return true
	}
	ti, si := 0, 0
	star, starS := -1, 0
	for si < len(s) {
		if ti < len(g) {
			if g[ti].op == globAnyRun {
				star, starS = ti, si
				ti++
				continue
			}
			if g[ti].matches(s[si]) {
				ti++
				si++
				continue
			}
		}
		if star < 0 {
			return false
		}
		starS++
		ti, si = star+1, starS
	}
	for ti < len(g) && g[ti].op == globAnyRun {
		ti++
	}
	return ti == len(g)
}
