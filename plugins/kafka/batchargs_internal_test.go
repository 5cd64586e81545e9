package kafka

import (
	"encoding/json"
	"reflect"
	"testing"
)

// batchArgsCases are produce_batch arguments, and whether scanBatchArgs
// reads them itself (true) or leaves them to encoding/json and sdk.Decode.
var batchArgsCases = []struct {
	name  string
	args  string
	scans bool
}{
	{"values", `{"topic":"t","values":["a","b"]}`, true},
	{"every attribute, any order, white space", " {\n\t\"partition\" : 2 ,\"values\":[ \"v\" , \"\" ],\"keys\":[\"k\",\"\"],\"topic\":\"t\"}\r\n", true},
	{"utf-8 and DEL", "{\"topic\":\"é\",\"values\":[\"日本語 ✓ 😀\",\"\x7f\"]}", true},
	{"empty lists", `{"topic":"t","keys":[],"values":[]}`, true},
	{"empty object", `{}`, true},
	{"partition -1", `{"topic":"t","values":["v"],"partition":-1}`, true},
	{"partition -0", `{"topic":"t","values":["v"],"partition":-0}`, true},
	{"largest partition", `{"topic":"t","values":["v"],"partition":2147483647}`, true},

	{"escaped quote", `{"topic":"t","values":["a\"b"]}`, false},
	{"escaped backslash at the end", `{"topic":"t","values":["a\\"]}`, false},
	{"unicode escape", `{"topic":"t","values":["\u00e9"]}`, false},
	{"escape in a key", `{"topic":"t","keys":["\n"],"values":["v"]}`, false},
	{"escape in the topic", `{"topic":"\t","values":["v"]}`, false},
	{"escape in an attribute name", `{"\u0074opic":"t","values":["v"]}`, false},
	{"invalid utf-8", "{\"topic\":\"t\",\"values\":[\"\xff\"]}", false},
	{"control character", "{\"topic\":\"t\",\"values\":[\"a\x01\"]}", false},
	{"null partition", `{"topic":"t","values":["v"],"partition":null}`, false},
	{"null values", `{"topic":"t","values":null}`, false},
	{"null element", `{"topic":"t","values":[null]}`, false},
	{"unknown attribute", `{"topic":"t","values":["v"],"bogus":1}`, false},
	{"attribute in other case", `{"Topic":"t","values":["v"]}`, false},
	{"attribute twice", `{"topic":"a","topic":"b","values":["v"]}`, false},
	{"fractional partition", `{"topic":"t","values":["v"],"partition":1.5}`, false},
	{"partition 1.0", `{"topic":"t","values":["v"],"partition":1.0}`, false},
	{"partition with exponent", `{"topic":"t","values":["v"],"partition":1e2}`, false},
	{"partition with leading zero", `{"topic":"t","values":["v"],"partition":01}`, false},
	{"partition beyond int32", `{"topic":"t","values":["v"],"partition":2147483648}`, false},
	{"partition as string", `{"topic":"t","values":["v"],"partition":"1"}`, false},
	{"number among values", `{"topic":"t","values":["1",2]}`, false},
	{"values not a list", `{"topic":"t","values":"v"}`, false},
	{"trailing comma", `{"topic":"t","values":["v",]}`, false},
	{"missing comma", `{"topic":"t" "values":["v"]}`, false},
	{"unterminated string", `{"topic":"t","values":["v]}`, false},
	{"unterminated object", `{"topic":"t","values":["v"]`, false},
	{"trailing value", `{"topic":"t","values":["v"]} {}`, false},
	{"trailing bracket", `{"topic":"t","values":["v"]}]`, false},
	{"not an object", `["t"]`, false},
	{"empty", ``, false},
	{"null", `null`, false},
}

// scanBatchArgs reads what it takes exactly as encoding/json does, and
// DecodeArgs answers everything else as before it existed.
func TestScanBatchArgs(t *testing.T) {
	for _, c := range batchArgsCases {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := scanBatchArgs([]byte(c.args)); ok != c.scans {
				t.Fatalf("scanBatchArgs took it: %v, want %v", ok, c.scans)
			}
			sameAsJSON(t, []byte(c.args))
		})
	}
}

// An empty value is an empty record value, not a null one (a tombstone),
// on both paths.
func TestBatchArgsEmptyValueIsNotNull(t *testing.T) {
	for _, args := range []string{`{"topic":"t","values":["",""]}`, `{"topic":"t","values":["","\u0041"]}`} {
		var a batchArgs
		if err := a.DecodeArgs(json.RawMessage(args)); err != nil {
			t.Fatal(err)
		}
		if arena(a.Values)[0] == nil {
			t.Fatalf("%s: the empty value is nil", args)
		}
	}
}

func FuzzScanBatchArgs(f *testing.F) {
	for _, c := range batchArgsCases {
		f.Add([]byte(c.args))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsJSON(t, data)
	})
}

// sameAsJSON checks that DecodeArgs gives what encoding/json and
// sdk.Decode give for args: the same arguments, or the same error.
func sameAsJSON(t *testing.T, args []byte) {
	t.Helper()
	want, wantErr := decodeBatchArgsJSON(args)
	var got batchArgs
	err := got.DecodeArgs(args)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("%q: error %v, want %v", args, err, wantErr)
	}
	if err != nil {
		return
	}
	if got.Topic != want.Topic || got.Partition != want.Partition ||
		!reflect.DeepEqual(nilIfEmpty(got.Keys), nilIfEmpty(want.Keys)) || !reflect.DeepEqual(nilIfEmpty(got.Values), nilIfEmpty(want.Values)) {
		t.Fatalf("%q: got %+v, want %+v", args, got, want)
	}
}

func nilIfEmpty(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	return ss
}
