package redis

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"

	goredis "github.com/redis/go-redis/v9"
)

// jsonValue converts a reply as go-redis reads it (RESP3) into a value
// encoding/json can write:
//
//	simple and bulk strings, verbatim strings  string
//	integers                                   number
//	doubles                                    number; "inf", "-inf", "nan" as strings
//	big numbers                                number (exact digits)
//	booleans                                   true / false
//	null                                       null
//	arrays, sets, pushes                       array
//	maps                                       object; non-string keys as their text
//	an error inside an array (EXEC, ...)       {"error": "<message>"}
func jsonValue(v any) any {
	switch v := v.(type) {
	case nil, string, int64, bool:
		return v
	case float64:
		switch {
		case math.IsInf(v, 1):
			return "inf"
		case math.IsInf(v, -1):
			return "-inf"
		case math.IsNaN(v):
			return "nan"
		}
		return v
	case *big.Int:
		return json.Number(v.String())
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonValue(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[mapKey(k)] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonValue(e)
		}
		return out
	case goredis.Error:
		return map[string]any{"error": v.Error()}
	case error:
		return map[string]any{"error": v.Error()}
	}
	return fmt.Sprint(v)
}

func mapKey(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case int64:
		return strconv.FormatInt(k, 10)
	case nil:
		return "null"
	}
	b, err := json.Marshal(jsonValue(k))
	if err != nil {
		return fmt.Sprint(k)
	}
	return string(b)
}
