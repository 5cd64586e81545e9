// Package faults injects real outages into tests: a network that is slow,
// resets connections, swallows data or is down (through toxiproxy), a
// PostgreSQL server that is stopped and started again or whose sessions
// are killed, a process that is killed. There are no mocks: the faults
// happen to real TCP connections, real servers and real processes.
//
// nebula-resource's own tests use it, and so can yours: point it at the
// backends of a test or staging deployment to check that your workflows
// and your host configuration (timeouts, retries, circuit breakers, health
// checks) ride out the outages you expect. For unit tests of workflow code
// without any backend, use package host/hosttest instead; docs/testing.md
// shows both.
//
// # Network faults
//
// Network faults go through a toxiproxy server
// (https://github.com/Shopify/toxiproxy): Toxiproxy connects to the one at
// $NEBULA_TEST_TOXIPROXY (default 127.0.0.1:8474), ToxiproxyAt to any
// other. Each test makes its own proxy in front of a real server and
// points the code under test at the proxy:
//
//	proxy := faults.Toxiproxy(t).Proxy(t, "127.0.0.1:5432")
//	url := "postgres://app@" + proxy.Addr() + "/app"
//	... connect, work ...
//	proxy.AddLatency(t, 300*time.Millisecond, 0) // every reply 300 ms late
//	proxy.Disable(t)                             // the server is "down"
//	proxy.Enable(t)                              // and back, same address
//
// Proxies and toxics are removed when the test ends (t.Cleanup), so a
// shared toxiproxy server carries nothing over from one test to the next.
//
// The client for toxiproxy's HTTP API is this package's own, a few calls
// on net/http. It deliberately does not use toxiproxy's Go client: that
// would make the product's go.mod list toxiproxy and its dependencies.
//
// # Servers and processes
//
// KillPostgresSessions terminates the sessions of a PostgreSQL server that
// match a login, a database or an application name, as an administrator
// or a failover would. StartPostgres runs a private PostgreSQL cluster on
// a port of its own (it needs PostgreSQL's initdb and pg_ctl installed),
// for tests that stop and restart the server itself; a shared server is
// never stopped. Kill sends SIGKILL to a process, such as a plugin's, and
// waits for it to be gone.
//
// In this repository the servers come from scripts/testenv:
//
//	scripts/testenv up
//	eval "$(scripts/testenv env)"
//	go test ./...
//
// Every function fails the test (t.Fatalf) when the fault cannot be set up,
// and never skips it: a fault test that did not inject its fault has proved
// nothing.
package faults
