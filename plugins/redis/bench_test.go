package redis_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

// The benchmarks compare GET and SET of a 100-byte value through
//
//	goredis  go-redis directly, with the options the driver uses: the
//	         floor the driver adds to
//	driver   the driver's instance called in process (JSON arguments and
//	         result, no gRPC)
//	grpc     the driver over in-process gRPC (sdktest.Connect), as the
//	         host reaches a plugin, minus the process boundary
//
// each serially and with b.RunParallel, against the standalone test server:
//
//	eval "$(scripts/testenv env)"
//	go test -run '^$' -bench . -benchmem ./plugins/redis/

var benchValue = strings.Repeat("v", 100)

type benchTarget struct {
	name string
	get  func(ctx context.Context, key string) error
	set  func(ctx context.Context, key string) error
}

func benchTargets(b *testing.B) []benchTarget {
	addr := redisAddr(b)
	// The peer has the options the driver gives its client.
	direct := goredis.NewClient(&goredis.Options{
		Addr: addr, Protocol: 3, ClientName: "nebula-resource", DialerRetries: 1,
		ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second, ContextTimeoutEnabled: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	b.Cleanup(func() { _ = direct.Close() })

	cfg, _ := json.Marshal(map[string]any{"addresses": []string{addr}})
	viaDriver := func(d sdk.Driver) sdk.Instance {
		return sdktest.Open(b, d, sdk.ConfigureRequest{Type: redis.TypeName, Name: "bench", Config: cfg})
	}
	invoker := func(inst sdk.Instance) (get, set func(context.Context, string) error) {
		get = func(ctx context.Context, key string) error {
			raw, _ := json.Marshal(map[string]string{"key": key})
			_, err := do(ctx, inst, "get", raw)
			return err
		}
		set = func(ctx context.Context, key string) error {
			raw, _ := json.Marshal(map[string]string{"key": key, "value": benchValue})
			_, err := do(ctx, inst, "set", raw)
			return err
		}
		return get, set
	}
	inProcess := viaDriver(redis.New())
	overGRPC := viaDriver(sdktest.Connect(b, redis.New()))
	dGet, dSet := invoker(inProcess)
	gGet, gSet := invoker(overGRPC)
	return []benchTarget{
		{"goredis",
			func(ctx context.Context, key string) error { return direct.Get(ctx, key).Err() },
			func(ctx context.Context, key string) error { return direct.Set(ctx, key, benchValue, 0).Err() }},
		{"driver", dGet, dSet},
		{"grpc", gGet, gSet},
	}
}

func BenchmarkGet100B(b *testing.B) {
	m := standalone(b)
	key := prefix(b, m.admin) + "bench"
	m.admin.Set(context.Background(), key, benchValue, 0)
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				if err := tg.get(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tg.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := tg.get(ctx, key); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkSet100B(b *testing.B) {
	m := standalone(b)
	key := prefix(b, m.admin) + "bench"
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				if err := tg.set(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tg.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := tg.set(ctx, key); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
