// Package faults injects real faults into tests: a network that is slow,
// resets connections, swallows data or is down (through toxiproxy), a
// PostgreSQL server that is stopped and started again, a process that is
// killed. There are no mocks: the faults happen to real TCP connections,
// real servers and real processes, on 127.0.0.1 only.
//
// The servers come from scripts/testenv:
//
//	scripts/testenv up
//	eval "$(scripts/testenv env)"
//	go test ./...
//
// Network faults go through a toxiproxy server ($NEBULA_TEST_TOXIPROXY,
// default 127.0.0.1:8474). Each test makes its own proxy in front of a real
// server and points the code under test at the proxy:
//
//	proxy := faults.Toxiproxy(t).Proxy(t, "127.0.0.1:5432")
//	url := "postgres://postgres@" + proxy.Addr() + "/test?sslmode=disable"
//	... connect, work ...
//	proxy.AddLatency(t, 300*time.Millisecond, 0) // every reply 300 ms late
//	proxy.Disable(t)                             // the server is "down"
//	proxy.Enable(t)                              // and back, same address
//
// Proxies and toxics are removed when the test ends (t.Cleanup), so the
// shared toxiproxy server carries nothing over from one test to the next.
//
// The client for toxiproxy's HTTP API is this package's own, a few calls
// on net/http. It deliberately does not use toxiproxy's Go client: that
// would make the product's go.mod list toxiproxy and its dependencies. The
// toxiproxy server itself is pinned and built in the separate testenv/
// module.
//
// A test that must stop and restart the database itself uses StartPostgres,
// which runs a private PostgreSQL cluster on a port of its own; the
// machine's shared server is never stopped. Kill sends SIGKILL to a
// process, such as a plugin's, and waits for it to be gone.
//
// Every function fails the test (t.Fatalf) when the fault cannot be set up,
// and never skips it: a fault test that did not inject its fault has proved
// nothing.
package faults
