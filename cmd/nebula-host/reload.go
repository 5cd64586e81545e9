package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
)

const reloadUsage = `usage: nebula-host reload [-addr HOST:PORT] [-token TOKEN] [-timeout DURATION]

Ask a running host to read its configuration files again and apply them
(POST /v1/reload), as SIGHUP does, and print what changed:

  added: memory.fresh
  removed: memory.gone
  changed: memory.tuned
  credentials: pg_app
  unchanged: 12

A configuration with errors changes nothing: the host's diagnostics are
printed as they came, one "file:line:column: error: summary; detail" line
each. The host's admin API must let the caller reload: an identity allowed
"admin" and without a tenant, when its admin block declares identities.

Authentication and TLS come from the environment, as for every command
that calls a running host:
  NEBULA_TOKEN        the bearer token of an identity (-token overrides it)
  NEBULA_CACERT       PEM file of the authority that signed the host's
                      certificate; the address then means https://
  NEBULA_CLIENT_CERT  PEM files of a client certificate and its key, for
  NEBULA_CLIENT_KEY   an identity with client_cert_names (mutual TLS)

Exit status:
  0  the host reloaded
  1  a local error, such as no host listening on the address
  2  an error reported by the host: the configuration has errors, the
     caller may not reload, or the reload failed

Flags:
`

func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, reloadUsage)
		fs.PrintDefaults()
	}
	addr := fs.String("addr", envOr("NEBULA_ADDR", api.DefaultAddress), "admin endpoint of the running host (env NEBULA_ADDR)")
	var af authFlags
	af.register(fs)
	// Starting the plugins of new resources may take a while.
	timeout := fs.Duration("timeout", 5*time.Minute, "give up waiting for the host's answer after this long")
	if err := fs.Parse(args); err != nil {
		return exitLocal
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: nebula-host reload [-addr HOST:PORT] [-token TOKEN] [-timeout DURATION]")
		return exitLocal
	}
	c, ok := newClient(stderr, "reload", *addr, append(af.options(), api.WithTimeout(*timeout))...)
	if !ok {
		return exitLocal
	}
	defer c.Close()
	res, err := c.Reload(context.Background())
	var e *api.Error
	switch {
	case errors.As(err, &e) && e.Code == api.CodeInvalidConfiguration:
		fmt.Fprintln(stderr, strings.TrimSuffix(e.Message, "\n"))
		return exitRemote
	case err != nil:
		return callFailed(stderr, "reload", *addr, err)
	}
	writeReload(stdout, res)
	return exitOK
}

// writeReload prints what a reload changed: a line for each list that is
// not empty, and the count of resources left as they were.
func writeReload(w io.Writer, res *api.ReloadResult) {
	for _, l := range []struct {
		what string
		ids  []string
	}{{"upgraded", res.Upgraded}, {"added", res.Added}, {"removed", res.Removed}, {"changed", res.Changed}, {"not applied until the host restarts", res.RestartNeeded}} {
		if len(l.ids) > 0 {
			fmt.Fprintf(w, "%s: %s\n", l.what, strings.Join(l.ids, ", "))
		}
	}
	fmt.Fprintf(w, "unchanged: %d\n", res.Unchanged)
}

// authFlags are the flags of a command that calls a running host, beside
// -addr: the identity to call it as.
type authFlags struct{ token string }

func (a *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.token, "token", "", "bearer token of an identity of the host's admin API (env NEBULA_TOKEN, which keeps it out of the process list)")
}

// options returns the client options of the flags: the token, when set,
// which wins over NEBULA_TOKEN.
func (a *authFlags) options() []api.Option {
	if a.token == "" {
		return nil
	}
	return []api.Option{api.WithBearerToken(a.token)}
}

// clientEnvOptions returns the options of a client of the admin API that
// the environment sets, as getenv reads it: the bearer token
// (NEBULA_TOKEN), the authority that signed the host's certificate
// (NEBULA_CACERT), and a client certificate and its key
// (NEBULA_CLIENT_CERT, NEBULA_CLIENT_KEY; both or neither). Every command
// that calls a running host builds its client with them (newClient), before
// its own options, which win.
func clientEnvOptions(getenv func(string) string) ([]api.Option, error) {
	var opts []api.Option
	if tok := getenv("NEBULA_TOKEN"); tok != "" {
		opts = append(opts, api.WithBearerToken(tok))
	}
	if ca := getenv("NEBULA_CACERT"); ca != "" {
		opts = append(opts, api.WithCAFile(ca))
	}
	cert, key := getenv("NEBULA_CLIENT_CERT"), getenv("NEBULA_CLIENT_KEY")
	switch {
	case cert != "" && key != "":
		opts = append(opts, api.WithClientCertificate(cert, key))
	case cert != "" || key != "":
		return nil, errors.New("NEBULA_CLIENT_CERT and NEBULA_CLIENT_KEY go together: set both, the client certificate's PEM file and its key's, or neither")
	}
	return opts, nil
}
