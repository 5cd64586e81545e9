package admin

import (
	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/pool"
)

// The host's descriptions as the API's types (package api), one converter
// per message. Where the two structs have the same fields, a Go conversion
// (api.PoolSettings(s)) makes the compiler check that they still do;
// TestWireTypesCarryEveryField checks the others through their JSON.

// mapSlice converts each element of in; nil stays nil, so that a JSON
// null stays null and an empty list stays [].
func mapSlice[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func resourceOf(r host.ResourceInfo) api.Resource {
	return api.Resource{
		ID: r.ID, Type: r.Type, Name: r.Name, Plugin: r.Plugin, State: api.ResourceState(r.State), Error: r.Error,
		Critical: r.Critical, Pooling: api.Pooling(r.Pooling), Capabilities: r.Capabilities, DependsOn: r.DependsOn,
		Operations: operationsOf(r.Operations),
		Pool: api.Pool{
			Mode: api.Pooling(r.Pool.Mode), Settings: api.PoolSettings(r.Pool.Settings), Stat: poolStatOf(r.Pool.Stat),
			Leases: mapSlice(r.Pool.Leases, func(l host.LeaseInfo) api.Lease { return api.Lease{Owner: api.Owner(l.Owner), Held: l.Held} }),
		},
		Resilience: api.Resilience{
			Breaker: api.BreakerState(r.Resilience.Breaker), BreakerOpenFor: r.Resilience.BreakerOpenFor,
			Retries: r.Resilience.Retries, Rejected: r.Resilience.Rejected,
		},
		Health: api.HealthState(r.Health),
	}
}

func operationsOf(ops []host.OperationInfo) []api.Operation {
	return mapSlice(ops, func(op host.OperationInfo) api.Operation {
		return api.Operation{Name: op.Name, Description: op.Description, Idempotent: op.Idempotent, IdempotentWhen: op.IdempotentWhen, Stream: api.StreamMode(op.Stream),
			Args: mapSlice(op.Args, func(a host.ArgInfo) api.Arg { return api.Arg(a) })}
	})
}

func poolStatOf(s pool.Stat) api.PoolStat {
	return api.PoolStat{
		Total: s.Total, Idle: s.Idle, InUse: s.InUse, Constructing: s.Constructing, MinSize: s.MinSize, MaxSize: s.MaxSize, Waiting: s.Waiting,
		AcquireCount: s.AcquireCount, AcquireDuration: s.AcquireDuration, EmptyAcquireCount: s.EmptyAcquireCount,
		CanceledAcquireCount: s.CanceledAcquireCount, TimeoutCount: s.TimeoutCount, ResetCount: s.ResetCount,
		Created: s.Created, DestroyedIdle: s.DestroyedIdle, DestroyedLifetime: s.DestroyedLifetime,
		DestroyedBroken: s.DestroyedBroken, DestroyedClosed: s.DestroyedClosed,
		Replicas: mapSlice(s.Replicas, func(r pool.ReplicaStat) api.ReplicaStat { return api.ReplicaStat(r) }),
		Window:   api.WindowStat(s.Window),
	}
}

func pluginsOf(ps []host.PluginInfo) []api.Plugin {
	return mapSlice(ps, func(p host.PluginInfo) api.Plugin {
		return api.Plugin{
			Name: p.Name, Path: p.Path, SHA256: p.SHA256, Version: p.Version, Driver: p.Driver, Protocol: p.Protocol,
			Types: p.Types, PID: p.PID, State: api.PluginState(p.State), Restarts: p.Restarts, Generation: p.Generation,
			LastError: p.LastError, Failures: p.Failures, NextRestart: p.NextRestart,
		}
	})
}

func healthReportOf(rep host.HealthReport) api.HealthReport {
	out := api.HealthReport{Status: api.HealthState(rep.Status)}
	if rep.Types != nil {
		out.Types = make(map[string]api.HealthState, len(rep.Types))
		for t, st := range rep.Types {
			out.Types[t] = api.HealthState(st)
		}
	}
	out.Resources = mapSlice(rep.Resources, func(r host.ResourceHealth) api.ResourceHealth {
		return api.ResourceHealth{
			ID: r.ID, Type: r.Type, State: api.HealthState(r.State), Reason: r.Reason, Since: r.Since, Quarantined: r.Quarantined,
			ConsecutiveFailures: r.ConsecutiveFailures, ConsecutivePasses: r.ConsecutivePasses,
			LastCheck: r.LastCheck, LastLatency: r.LastLatency, LastError: r.LastError, Breaker: api.BreakerState(r.Breaker),
			History: mapSlice(r.History, func(e host.HealthEvent) api.HealthEvent { return api.HealthEvent(e) }),
		}
	})
	out.Credentials = mapSlice(rep.Credentials, func(c host.CredentialHealth) api.CredentialHealth { return api.CredentialHealth(c) })
	if rep.QuotaStore != nil {
		qs := api.QuotaStoreHealth(*rep.QuotaStore)
		out.QuotaStore = &qs
	}
	return out
}
