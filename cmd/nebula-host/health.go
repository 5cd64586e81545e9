package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
)

// exitUnhealthy is health's exit code when a resource is quarantined or
// not running: the host's overall status is unhealthy or recovering.
const exitUnhealthy = 3

const healthUsage = `usage: nebula-host health [-addr HOST:PORT] [-history] [-json]

Ask a running host for the health of its resources (GET /v1/health) and
print a table: each resource's health state, circuit breaker, how long it
has been in its state and why; then the host's overall status and the
status of each resource type, which are the worst of their resources.
-history adds each resource's recent health and breaker transitions,
oldest first. -json prints the report as the host sent it, history
included.

Exit status:
  0  the host answered and every resource serves leases (its overall
     status is healthy, degraded or starting)
  1  a local error, such as no host listening on the address
  2  an error reported by the host
  3  the host answered and a resource serves no leases: it failed its
     checks and is quarantined (overall status unhealthy or recovering),
     or it is not running; this is when /readyz answers 503

Flags:
`

func cmdHealth(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, healthUsage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", envOr("NEBULA_ADDR", api.DefaultAddress), "admin endpoint of the running host (env NEBULA_ADDR)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	history := fs.Bool("history", false, "also print each resource's recent events, oldest first")
	if err := fs.Parse(args); err != nil {
		return exitLocal
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: nebula-host health [-addr HOST:PORT] [-history] [-json]")
		return exitLocal
	}
	c, ok := newClient(stderr, "health", *addr, api.WithTimeout(10*time.Second))
	if !ok {
		return exitLocal
	}
	defer c.Close()
	rep, err := c.Health(context.Background())
	if err != nil {
		return callFailed(stderr, "health", *addr, err)
	}
	if *asJSON {
		// Every page joined, as the host sends one.
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			return exitLocal
		}
	} else {
		writeHealth(stdout, rep.HealthReport, time.Now(), *history)
	}
	if rep.Status == api.HealthUnhealthy || rep.Status == api.HealthRecovering {
		return exitUnhealthy
	}
	return exitOK
}

// writeHealth prints the report as a table, then the aggregates, then
// with history each resource's events.
func writeHealth(w io.Writer, rep api.HealthReport, now time.Time, history bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tTYPE\tSTATE\tBREAKER\tSINCE\tREASON")
	for _, r := range rep.Resources {
		since := "-"
		if !r.Since.IsZero() {
			since = age(now.Sub(r.Since))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Type, r.State, orDash(string(r.Breaker)), since, orDash(oneLine(r.Reason)))
	}
	_ = tw.Flush()

	types := make([]string, 0, len(rep.Types))
	for t := range rep.Types {
		types = append(types, t)
	}
	slices.Sort(types)
	for i, t := range types {
		types[i] = t + " " + string(rep.Types[t])
	}
	if len(rep.Credentials) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CREDENTIAL\tSOURCE\tSTATE\tVERSION\tEXPIRES\tLAST ERROR")
		for _, c := range rep.Credentials {
			expires := "never"
			if !c.Expires.IsZero() {
				expires = "in " + age(c.Expires.Sub(now))
				if c.Expires.Before(now) {
					expires = age(now.Sub(c.Expires)) + " ago"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", c.Name, c.Source, c.State, c.Version, expires, orDash(oneLine(c.LastError)))
		}
		_ = tw.Flush()
	}
	if q := rep.QuotaStore; q != nil {
		state := "ok"
		if q.Degraded {
			state = "degraded: local limits apply (" + oneLine(q.LastError) + ")"
		}
		fmt.Fprintf(w, "\nQuota store: %s, %s\n", q.Resource, state)
	}
	fmt.Fprintf(w, "\nOverall: %s", rep.Status)
	if len(types) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(types, ", "))
	}
	fmt.Fprintln(w)

	if !history {
		return
	}
	for _, r := range rep.Resources {
		fmt.Fprintf(w, "\n%s:\n", r.ID)
		if len(r.History) == 0 {
			fmt.Fprintln(w, "  (no events)")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range r.History {
			fmt.Fprintf(tw, "  %s\t%s\t%s → %s\t%s\n", e.At.Local().Format(eventTime), e.Kind, orDash(e.From), orDash(e.To), orDash(oneLine(e.Reason)))
		}
		_ = tw.Flush()
	}
}

// eventTime is how -history prints an event's time: RFC 3339 with
// milliseconds, in local time.
const eventTime = "2006-01-02T15:04:05.000Z07:00"

// age rounds d down to its largest unit: 12s, 3m, 5h, 2d.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s" // the host's clock is ahead of ours
	case d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dd", d/(24*time.Hour))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a multi-line reason on its row of the table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
