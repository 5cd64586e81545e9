package memory_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// scanAll pages through scan with pattern and count until the cursor is
// "", calling between after each page, and returns the pages.
func scanAll(t *testing.T, inst sdk.Instance, pattern string, count int, between func(page int)) [][]string {
	t.Helper()
	var pages [][]string
	cursor := ""
	for {
		args, _ := json.Marshal(map[string]any{"pattern": pattern, "cursor": cursor, "count": count})
		var res sdk.KVScanResult
		if err := json.Unmarshal([]byte(mustCall(t, inst, "scan", string(args))), &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Keys) > count {
			t.Fatalf("page %d has %d keys, more than count %d", len(pages), len(res.Keys), count)
		}
		pages = append(pages, res.Keys)
		if res.Cursor == "" {
			return pages
		}
		if len(res.Keys) == 0 {
			t.Fatalf("page %d is empty but has a cursor", len(pages)-1)
		}
		if len(pages) > 10_000 {
			t.Fatal("scan does not end")
		}
		if between != nil {
			between(len(pages) - 1)
		}
		cursor = res.Cursor
	}
}

func TestMemoryScanPagesReturnEveryMatchingKeyOnce(t *testing.T) {
	_, inst := open(t, `{}`)
	var want []string
	values := map[string]string{}
	for i := range 250 {
		k := fmt.Sprintf("user:%d", i)
		values[k] = "v"
		want = append(want, k)
		values[fmt.Sprintf("order:%d", i)] = "v" // not matching
	}
	values["ключ:1"] = "v" // a key beyond ASCII, in the cursor too
	raw, _ := json.Marshal(map[string]any{"values": values})
	mustCall(t, inst, "mset", string(raw))
	slices.Sort(want)

	tests := []struct {
		pattern   string
		count     int
		want      []string
		wantSizes []int
	}{
		{pattern: "user:*", count: 100, want: want, wantSizes: []int{100, 100, 50}},
		{pattern: "user:*", count: 250, want: want, wantSizes: []int{250}},
		{pattern: "user:*", count: 1000, want: want, wantSizes: []int{250}},
		{pattern: "user:*", count: 7, want: want},
		{pattern: "user:1?", count: 3, want: []string{"user:10", "user:11", "user:12", "user:13", "user:14", "user:15", "user:16", "user:17", "user:18", "user:19"}, wantSizes: []int{3, 3, 3, 1}},
		{pattern: "*:1", count: 1, want: []string{"order:1", "user:1", "ключ:1"}, wantSizes: []int{1, 1, 1}},
		{pattern: "nothing*", count: 100, want: nil, wantSizes: []int{0}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("pattern %s count %d", tt.pattern, tt.count), func(t *testing.T) {
			pages := scanAll(t, inst, tt.pattern, tt.count, nil)
			var got []string
			var sizes []int
			for _, p := range pages {
				got = append(got, p...)
				sizes = append(sizes, len(p))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("scan returned %d keys %v..., want %d keys, each once, in order", len(got), got[:min(len(got), 5)], len(tt.want))
			}
			if tt.wantSizes != nil && !slices.Equal(sizes, tt.wantSizes) {
				t.Errorf("page sizes %v, want %v", sizes, tt.wantSizes)
			}
		})
	}
}

func TestMemoryScanUnderWritesReturnsKeysPresentThroughoutOnce(t *testing.T) {
	_, inst := open(t, `{}`)
	for i := range 250 {
		mustCall(t, inst, "set", fmt.Sprintf(`{"key":"k%03d","value":"v"}`, i))
	}
	// Between pages, delete keys on either side of the cursor and add new
	// ones, before and after it.
	pages := scanAll(t, inst, "k*", 100, func(page int) {
		for i := range 10 {
			mustCall(t, inst, "delete", fmt.Sprintf(`{"keys":["k%03d","k%03d"]}`, page*100+i, 240-page*10+i))
			mustCall(t, inst, "set", fmt.Sprintf(`{"key":"k%03d-new%d","value":"v"}`, i*25, page))
		}
	})
	seen := map[string]int{}
	var all []string
	for _, p := range pages {
		all = append(all, p...)
		for _, k := range p {
			seen[k]++
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("key %s returned %d times", k, n)
		}
	}
	if !slices.IsSorted(all) {
		t.Errorf("keys out of order across pages")
	}
	// Keys present from the first page to the last.
	for i := range 250 {
		k := fmt.Sprintf("k%03d", i)
		deleted := i < 10 || (i >= 100 && i < 110) || i >= 230
		if !deleted && seen[k] != 1 {
			t.Errorf("key %s, present throughout, returned %d times", k, seen[k])
		}
	}
	// A key added behind the cursor cannot be returned: scan goes on
	// from the last key it returned.
	for k := range seen {
		_, after, ok := strings.Cut(k, "-new")
		if !ok {
			continue
		}
		var page int
		if _, err := fmt.Sscan(after, &page); err != nil {
			t.Fatal(err)
		}
		if last := pages[page][len(pages[page])-1]; k < last {
			t.Errorf("key %s, added behind the cursor %s, was returned", k, last)
		}
	}
	if len(pages) != 3 {
		t.Errorf("%d pages, want 3", len(pages))
	}
}
