package kafka

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// batchArgs are produce_batch's arguments, sdk.StreamProduceBatchArgs,
// whose schema the operation publishes; DecodeArgs reads them.
type batchArgs sdk.StreamProduceBatchArgs

// Validate checks what produce_batch needs of its arguments alone.
func (a batchArgs) Validate() error {
	switch {
	case a.Topic == "":
		return sdk.Errorf(sdk.KindInvalidArgument, "topic must not be empty")
	case len(a.Values) == 0:
		return sdk.Errorf(sdk.KindInvalidArgument, "values must hold at least one value")
	case len(a.Keys) != 0 && len(a.Keys) != len(a.Values):
		return sdk.Errorf(sdk.KindInvalidArgument, "keys has %d elements and values %d: give one key per value, or no keys", len(a.Keys), len(a.Values))
	}
	return nil
}

// DecodeArgs reads produce_batch's arguments. A batch of a thousand
// 1 KiB values is a megabyte of JSON, which encoding/json scans twice and
// at a few hundred MB/s (6 to 8 ms on a 2-core VM, as long as franz-go
// takes to write the batch). The common case (the four attributes, plain
// strings, an integer partition) is read in one pass by scanBatchArgs, in
// a tenth of that; anything else (an escape, a null, an unknown attribute,
// a value of the wrong type, bad JSON) goes to the general decoder, for
// encoding/json's reading of it and the SDK's errors.
func (a *batchArgs) DecodeArgs(raw json.RawMessage) error {
	if scanned, ok := scanBatchArgs(raw); ok {
		*a = scanned
		return nil
	}
	args, err := decodeBatchArgsJSON(raw)
	*a = batchArgs(args)
	return err
}

// decodeBatchArgsJSON decodes produce_batch's arguments with one strict
// pass of encoding/json, and when that fails with sdk.Decode, for the
// SDK's own error.
func decodeBatchArgsJSON(raw json.RawMessage) (sdk.StreamProduceBatchArgs, error) {
	var fast struct {
		Topic     string   `json:"topic"`
		Keys      []string `json:"keys"`
		Values    []string `json:"values"`
		Partition *int32   `json:"partition"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fast); err == nil && dec.InputOffset() > 0 && !dec.More() {
		a := sdk.StreamProduceBatchArgs{Topic: fast.Topic, Keys: fast.Keys, Values: fast.Values, Partition: -1}
		if fast.Partition != nil {
			a.Partition = *fast.Partition
		}
		return a, nil
	}
	var a sdk.StreamProduceBatchArgs
	err := sdk.Decode(raw, &a)
	return a, err
}

// arena copies the strings into one allocation and returns them as byte
// slices of it; each is empty but not nil for an empty string (a record
// with an empty value, not a null one).
func arena(ss []string) [][]byte {
	if len(ss) == 0 {
		return nil
	}
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(ss))
	for i, s := range ss {
		start := len(buf)
		buf = append(buf, s...)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

// scanBatchArgs reads {"topic": "...", "keys": ["..."], "values": ["..."],
// "partition": n} (any order, each at most once, white space anywhere
// JSON allows it) in one pass. ok is false for anything else; it never
// decides that the arguments are wrong, decodeBatchArgsJSON does. The
// topic, keys and values are substrings of one copy of data.
func scanBatchArgs(data []byte) (a batchArgs, ok bool) {
	s := argScanner{data: data}
	a.Partition = -1
	var seen [4]bool
	var keys, values [][2]int // spans of the contents in data
	s.space()
	if !s.byte('{') {
		return a, false
	}
	for first := true; ; first = false {
		s.space()
		if first && s.peek('}') {
			s.i++
			break
		}
		start, end, ok := s.plainString()
		if !ok {
			return a, false
		}
		s.space()
		if !s.byte(':') {
			return a, false
		}
		s.space()
		var which int
		switch string(data[start:end]) {
		case "topic":
			which = 0
			ts, te, ok := s.plainString()
			if !ok {
				return a, false
			}
			a.Topic = string(data[ts:te])
		case "keys":
			which = 1
			if keys, ok = s.stringList(); !ok {
				return a, false
			}
		case "values":
			which = 2
			if values, ok = s.stringList(); !ok {
				return a, false
			}
		case "partition":
			which = 3
			if a.Partition, ok = s.int32(); !ok {
				return a, false
			}
		default:
			return a, false
		}
		if seen[which] {
			return a, false
		}
		seen[which] = true
		s.space()
		if s.peek('}') {
			s.i++
			break
		}
		if !s.byte(',') {
			return a, false
		}
	}
	s.space()
	if s.i != len(data) {
		return a, false
	}
	// One copy of the arguments holds every key and value: a plain
	// string's value is its bytes, where they are.
	own := string(data)
	a.Keys = spansOf(own, keys)
	a.Values = spansOf(own, values)
	return a, true
}

// spansOf returns the spans of s.
func spansOf(s string, spans [][2]int) []string {
	if len(spans) == 0 {
		return nil
	}
	out := make([]string, len(spans))
	for i, sp := range spans {
		out[i] = s[sp[0]:sp[1]]
	}
	return out
}

// argScanner reads JSON from data at i.
type argScanner struct {
	data []byte
	i    int
}

func (s *argScanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *argScanner) peek(c byte) bool { return s.i < len(s.data) && s.data[s.i] == c }

// byte consumes c.
func (s *argScanner) byte(c byte) bool {
	if !s.peek(c) {
		return false
	}
	s.i++
	return true
}

// plainString consumes a string without escapes or control characters
// whose contents are valid UTF-8, and returns the span of its contents:
// its value is its bytes.
func (s *argScanner) plainString() (start, end int, ok bool) {
	if !s.byte('"') {
		return 0, 0, false
	}
	n := bytes.IndexByte(s.data[s.i:], '"')
	if n < 0 {
		return 0, 0, false
	}
	start, end = s.i, s.i+n
	if c := s.data[start:end]; bytes.IndexByte(c, '\\') >= 0 || (!printableASCII(c) && (hasControl(c) || !utf8.Valid(c))) {
		return 0, 0, false
	}
	s.i = end + 1
	return start, end, true
}

// stringList consumes a list of plain strings and returns their spans.
func (s *argScanner) stringList() ([][2]int, bool) {
	if !s.byte('[') {
		return nil, false
	}
	var out [][2]int
	for first := true; ; first = false {
		s.space()
		if first && s.peek(']') {
			s.i++
			return out, true
		}
		start, end, ok := s.plainString()
		if !ok {
			return nil, false
		}
		out = append(out, [2]int{start, end})
		s.space()
		if s.peek(']') {
			s.i++
			return out, true
		}
		if !s.byte(',') {
			return nil, false
		}
	}
}

// int32 consumes an integer in JSON's form (no leading zero, no fraction
// or exponent) that fits an int32.
func (s *argScanner) int32() (int32, bool) {
	start := s.i
	if s.peek('-') {
		s.i++
	}
	digits := s.i
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
	}
	if s.i == digits || (s.data[digits] == '0' && s.i-digits > 1) {
		return 0, false
	}
	if s.i < len(s.data) {
		switch s.data[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(s.data[start:s.i]), 10, 32)
	return int32(n), err == nil
}

// printableASCII reports whether every byte of b is from 0x20 to 0x7f. It
// reads eight bytes at a time: subtracting 0x20 from each byte of a word
// sets a byte's top bit (or borrows from it) only if some byte is below
// 0x20, and a byte of 0x80 or more has it already.
func printableASCII(b []byte) bool {
	const low, high = 0x2020202020202020, 0x8080808080808080
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		if ((w-low)|w)&high != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// hasControl reports whether b holds a byte below 0x20, which JSON does
// not allow in a string.
func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}
