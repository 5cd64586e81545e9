package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
)

const probeUsage = `usage: nebula-host probe [-addr HOST:PORT] [-live] [-timeout D]

Ask a running host whether it is ready (GET /readyz) or, with -live,
whether its process runs (GET /livez): the probes an orchestrator uses,
for a container's health check (a Dockerfile's HEALTHCHECK) where no
HTTP client is at hand. Neither needs a token; with NEBULA_TOKEN of an
identity allowed read, a host that is not ready also says which
resources are not.

Exit status:
  0  ready (live)
  1  no answer, such as no host listening on the address
  3  the host answered and is not ready: a critical resource is not
     running or is quarantined

Flags:
`

func cmdProbe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, probeUsage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", envOr("NEBULA_ADDR", api.DefaultAddress), "admin endpoint of the running host (env NEBULA_ADDR)")
	live := fs.Bool("live", false, "ask GET /livez instead of GET /readyz")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return exitLocal
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitLocal
	}
	c, ok := newClient(stderr, "probe", *addr, api.WithTimeout(*timeout))
	if !ok {
		return exitLocal
	}
	defer c.Close()
	ctx := context.Background()
	if *live {
		if err := c.Live(ctx); err != nil {
			fmt.Fprintf(stderr, "nebula-host probe: %v\n", err)
			return exitLocal
		}
		fmt.Fprintln(stdout, "live")
		return exitOK
	}
	r, err := c.Ready(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "nebula-host probe: %v\n", err)
		return exitLocal
	}
	if !r.Ready {
		fmt.Fprint(stderr, r.Report)
		return exitUnhealthy
	}
	fmt.Fprintln(stdout, "ready")
	return exitOK
}
