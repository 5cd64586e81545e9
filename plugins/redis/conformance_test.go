package redis_test

import (
	"encoding/json"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// suites are the conformance suites: the redis type against the standalone
// server and the cluster, and the redis_session type.
func suites(t *testing.T) map[string]sdktest.Suite {
	addr := redisAddr(t)
	standaloneCfg, _ := json.Marshal(map[string]any{"addresses": []string{addr}})
	clusterCfg, _ := json.Marshal(map[string]any{"mode": "cluster", "addresses": clusterAddrs(t)})
	failing := &sdk.InvokeRequest{Operation: "command", Args: json.RawMessage(`{"args":["GET"]}`)}
	return map[string]sdktest.Suite{
		"Standalone": {
			Type:          redis.TypeName,
			Config:        string(standaloneCfg),
			InvalidConfig: `{"mode": "cluster", "addresses": ["127.0.0.1:7000"], "database": 2}`,
			Probe:         sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"nebula-test:conformance:probe"}`)},
			Failing:       failing,
			FailingKind:   sdk.KindInvalidArgument,
		},
		"Cluster": {
			Type:          redis.TypeName,
			Config:        string(clusterCfg),
			InvalidConfig: `{"mode": "standalone", "addresses": ["127.0.0.1:7000", "127.0.0.1:7001"]}`,
			Probe:         sdk.InvokeRequest{Operation: "get", Args: json.RawMessage(`{"key":"nebula-test:conformance:probe"}`)},
			Failing:       failing,
			FailingKind:   sdk.KindInvalidArgument,
		},
		"Session": {
			Type:          redis.SessionTypeName,
			Config:        string(standaloneCfg),
			InvalidConfig: string(clusterCfg), // sessions do not support cluster mode
			Probe:         sdk.InvokeRequest{Operation: "ping", Args: json.RawMessage(`{}`)},
			Failing:       &sdk.InvokeRequest{Operation: "multi_exec", Args: json.RawMessage(`{"commands":["not json"]}`)},
			FailingKind:   sdk.KindInvalidArgument,
		},
	}
}

func TestRedisConformanceInProcess(t *testing.T) {
	for name, s := range suites(t) {
		t.Run(name, func(t *testing.T) { sdktest.RunDriver(t, redis.New(), s) })
	}
}

func TestRedisConformanceAsBuiltBinary(t *testing.T) {
	bin := sdktest.Build(t, "./cmd/nebula-plugin-redis")
	for name, s := range suites(t) {
		t.Run(name, func(t *testing.T) { sdktest.RunBinary(t, bin, s) })
	}
}
