// Package hosttest starts a host inside a Go test, in the manner of
// net/http/httptest, so that code built on the host (a workflow's steps,
// an activity, a handler) can be unit-tested without plugin binaries or
// backends, and its error handling tested without a real outage.
//
//	func TestReserve(t *testing.T) {
//		h := hosttest.New(t, `resource "memory" "stock" {}`)
//		if err := Reserve(t.Context(), h.Host, "sku-1"); err != nil {
//			t.Fatal(err)
//		}
//
//		// The same code when the cache is down:
//		h.Resource("memory.stock").Fail(sdk.KindUnavailable)
//		err := Reserve(t.Context(), h.Host, "sku-1")
//		if !errors.Is(err, sdk.ErrUnavailable) { ... }
//	}
//
// The host is configured from HCL source ([New]) or from Go values
// ([NewResources]), exactly as nebula-host is, and serves the memory,
// sqlite and localfs resource types in process, with any other driver
// written with the sdk package ([WithDriver]). It is closed when the test
// ends; then the test fails if a lease was not released or a goroutine
// started during the test is still running.
//
// Each resource has a control, [Host.Resource], that injects faults where
// a backend's would be: [Resource.Fail] and [Resource.FailNext] make calls
// fail with an error of a chosen kind, [Resource.Slow] adds latency,
// [Resource.Partition] makes calls and health checks hang until their
// deadline (the host quarantines the resource, as after a real outage),
// and [Resource.Recover] ends it all. The control also records each call
// the resource received ([Resource.Calls]), its sensitive values masked.
//
// For tests against real backends, and outages of real servers and
// networks, see package faults; docs/testing.md shows both.
package hosttest
