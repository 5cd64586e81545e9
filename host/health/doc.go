// Package health provides the mechanics of the host's health checks: the
// state machine of a resource's health ([Machine]: starting, healthy,
// degraded, unhealthy and quarantined, recovering), with its bounded
// history of transitions and the backoff of its recovery probes; the
// settings of a health block with their defaults ([SettingsOf]); the
// reports the host gives of it ([Resource], [Report]); and the
// [Scheduler] that runs the checks, and the host's other timed work, from
// one goroutine, handing the checks due together to their [Group] as one
// round.
//
// It performs no check itself and needs no host: the host tells a
// Machine each check's outcome and carries out the quarantines and
// recoveries the returned [Transition]s call for.
package health
