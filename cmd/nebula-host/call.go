package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
)

func cmdCall(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("NEBULA_ADDR", api.DefaultAddress), "admin endpoint of the running host (env NEBULA_ADDR)")
	in := fs.String("in", "", "for streaming operations: file to send (- for stdin)")
	out := fs.String("out", "", "for streaming operations: file to write the output to (default stdout)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long (for streaming operations: waiting for the response to begin)")
	stream := fs.Bool("stream", false, "the operation streams (implied by -in or -out)")
	var owner api.Owner
	fs.StringVar(&owner.Tenant, "tenant", "", "label the lease with its tenant")
	fs.StringVar(&owner.Workflow, "workflow", "", "label the lease with its workflow")
	fs.StringVar(&owner.Step, "step", "", "label the lease with its step")
	var af authFlags
	af.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitLocal
	}
	if fs.NArg() < 2 || fs.NArg() > 3 {
		fmt.Fprintln(stderr, "usage: nebula-host call [-addr HOST:PORT] [-in FILE] [-out FILE] NAME OPERATION [JSON-ARGS]")
		return exitLocal
	}
	name, op := fs.Arg(0), fs.Arg(1)
	argsJSON := json.RawMessage("{}")
	if fs.NArg() == 3 {
		argsJSON = json.RawMessage(fs.Arg(2))
		if !json.Valid(argsJSON) {
			fmt.Fprintf(stderr, "nebula-host call: the arguments are not valid JSON: %s\n", fs.Arg(2))
			return exitLocal
		}
	}
	// A stream may run long; only the wait for its answer is bounded.
	c, ok := newClient(stderr, "call", *addr, append(af.options(), api.WithTimeout(*timeout))...)
	if !ok {
		return exitLocal
	}
	defer c.Close()
	ctx := context.Background()
	if *stream || *in != "" || *out != "" {
		req := api.StreamRequest{Operation: op, Args: argsJSON, Owner: owner}
		return callStream(ctx, c, name, req, *in, *out, stdin, stdout, stderr)
	}

	req := api.InvokeRequest{Operation: op, Args: argsJSON}
	if owner != (api.Owner{}) {
		req.Owner = &owner
	}
	res, err := c.Invoke(ctx, name, req)
	if err != nil {
		return callFailed(stderr, "call", *addr, err)
	}
	return printJSON(stdout, res.Result)
}

func callStream(ctx context.Context, c *api.Client, name string, req api.StreamRequest, inPath, outPath string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch inPath {
	case "":
	case "-":
		req.Body = stdin
	default:
		f, err := os.Open(inPath)
		if err != nil {
			fmt.Fprintf(stderr, "nebula-host call: %v\n", err)
			return exitLocal
		}
		defer f.Close()
		req.Body = f
	}
	s, err := c.Stream(ctx, name, req)
	if err != nil {
		return callFailed(stderr, "call", "", err)
	}
	defer s.Close()
	// The output file is created only once the operation has begun, so a
	// refused call leaves nothing behind.
	var w io.Writer = stdout
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			fmt.Fprintf(stderr, "nebula-host call: %v\n", err)
			return exitLocal
		}
		defer f.Close()
		w = f
	}
	if _, err := io.Copy(w, s); err != nil {
		if api.KindOf(err) != "" { // the operation failed after its output began
			return callFailed(stderr, "call", "", err)
		}
		fmt.Fprintf(stderr, "nebula-host call: reading the stream: %v\n", err)
		return exitRemote
	}
	// The result goes to stdout unless stdout carries the stream's output.
	result, _ := s.Result()
	if outPath != "" || inPath != "" {
		fmt.Fprintln(stdout, string(result))
	} else {
		fmt.Fprintln(stderr, string(result))
	}
	return exitOK
}

// newClient returns a client of the admin endpoint at addr, with the
// token and TLS files of the environment (clientEnvOptions) and then opts,
// or prints why there is none.
func newClient(stderr io.Writer, command, addr string, opts ...api.Option) (*api.Client, bool) {
	env, err := clientEnvOptions(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "nebula-host %s: %v\n", command, err)
		return nil, false
	}
	c, err := api.NewClient(addr, append(env, opts...)...)
	if err != nil {
		fmt.Fprintf(stderr, "nebula-host %s: %v\n", command, err)
		return nil, false
	}
	return c, true
}

// callFailed prints why command's call of a running host failed and
// returns the exit code: exitRemote for an error the host answered with,
// or an answer that could not be read; exitLocal for a failure to reach
// it, whose line asks whether a host serves on addr when addr is set.
func callFailed(stderr io.Writer, command, addr string, err error) int {
	switch {
	case api.KindOf(err) != "":
		fmt.Fprintf(stderr, "nebula-host %s: %v\n", command, err)
		return exitRemote
	case errors.Is(err, api.ErrBadResponse):
		fmt.Fprintf(stderr, "nebula-host %s: %v\n", command, err)
		return exitRemote
	case addr != "":
		fmt.Fprintf(stderr, "nebula-host %s: %v (is nebula-host run serving on %s?)\n", command, err, addr)
	default:
		fmt.Fprintf(stderr, "nebula-host %s: %v\n", command, err)
	}
	return exitLocal
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}
