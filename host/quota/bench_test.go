package quota_test

import (
	"context"
	"testing"

	"github.com/nebula-resource/nebula-resource/host/quota"
)

// BenchmarkAllowLocal measures an admission by the local rate limit, the
// path every call takes without a store or while it fails.
func BenchmarkAllowLocal(b *testing.B) {
	l := quota.New(quota.Options{})
	defer l.Close()
	lim := quota.Limit{Rate: 1e9, Burst: 1 << 30}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Allow(ctx, acme, lim); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAdmitRelease measures a lease's admission and release under
// max_leases and a rate.
func BenchmarkAdmitRelease(b *testing.B) {
	l := quota.New(quota.Options{})
	defer l.Close()
	lim := quota.Limit{MaxLeases: 1 << 20, Rate: 1e9, Burst: 1 << 30}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			release, err := l.Admit(ctx, acme, lim)
			if err != nil {
				b.Error(err)
				return
			}
			release()
		}
	})
}
