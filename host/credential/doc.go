// Package credential owns the host's credentials: named sets of secret
// string attributes (credential.pg_app.password) that resources use to
// reach their backends, read from the environment, from a file, or from
// the output of a command, and kept current while the host runs.
//
// A [Spec] describes one credential block; a [Store] holds the values of
// all of them. The lifecycle of a Store:
//
//  1. [New] validates the specs and resolves each command in PATH; it
//     starts nothing.
//  2. [Store.Start] fetches every credential once, in parallel. If any
//     fetch fails, Start returns one error naming each credential that
//     failed, and stops everything it started.
//  3. After a successful Start the store keeps the values current: a
//     file credential is polled for changes, and a command whose output
//     states an expiration is run again before that expiration. A failed
//     refresh keeps the last good value until it expires and is retried
//     with backoff.
//  4. [Store.Get] returns a credential's current value; [Store.Refresh]
//     fetches it again at once, for when a backend refused the value,
//     with concurrent callers sharing one fetch. [Options].OnChange tells
//     the host when a credential's attributes changed, so that it can
//     reopen the connections that use them.
//  5. [Store.Close] stops every goroutine, kills a command still running,
//     and waits for all of them.
//
// Values are secrets. [Options].Secret is given every attribute value
// before the value is stored or handed out, so that the host can mask it
// in everything it prints; no error, log line or [Status] of this package
// contains a value.
package credential
