package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/admin"
)

func cmdCall(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("NEBULA_ADDR", admin.DefaultAddress), "admin endpoint of the running host (env NEBULA_ADDR)")
	in := fs.String("in", "", "for streaming operations: file to send (- for stdin)")
	out := fs.String("out", "", "for streaming operations: file to write the output to (default stdout)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long (for streaming operations: waiting for the response to begin)")
	stream := fs.Bool("stream", false, "the operation streams (implied by -in or -out)")
	var owner host.Owner
	fs.StringVar(&owner.Tenant, "tenant", "", "label the lease with its tenant")
	fs.StringVar(&owner.Workflow, "workflow", "", "label the lease with its workflow")
	fs.StringVar(&owner.Step, "step", "", "label the lease with its step")
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
	base := "http://" + *addr + "/v1/resources/" + url.PathEscape(name)
	if *stream || *in != "" || *out != "" {
		// A stream may run long; only its start is bounded.
		client := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: *timeout}}
		return callStream(client, base, op, argsJSON, owner, *in, *out, stdin, stdout, stderr)
	}
	client := &http.Client{Timeout: *timeout}

	req := api.InvokeRequest{Operation: op, Args: argsJSON}
	if owner != (host.Owner{}) {
		o := api.Owner(owner)
		req.Owner = &o
	}
	body, _ := json.Marshal(req)
	resp, err := client.Post(base+"/invoke", "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(stderr, "nebula-host call: %v (is nebula-host run serving on %s?)\n", err, *addr)
		return exitLocal
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return remoteError(stderr, "call", resp)
	}
	var ir api.InvokeResponse
	if err := json.NewDecoder(resp.Body).Decode(&ir); err != nil {
		fmt.Fprintf(stderr, "nebula-host call: bad response: %v\n", err)
		return exitRemote
	}
	return printJSON(stdout, ir.Result)
}

func callStream(client *http.Client, base, op string, args json.RawMessage, owner host.Owner, inPath, outPath string, stdin io.Reader, stdout, stderr io.Writer) int {
	var body io.Reader = http.NoBody
	switch inPath {
	case "":
	case "-":
		body = stdin
	default:
		f, err := os.Open(inPath)
		if err != nil {
			fmt.Fprintf(stderr, "nebula-host call: %v\n", err)
			return exitLocal
		}
		defer f.Close()
		body = f
	}
	req, err := http.NewRequest(http.MethodPost, base+"/stream/"+url.PathEscape(op), body)
	if err != nil {
		fmt.Fprintf(stderr, "nebula-host call: %v\n", err)
		return exitLocal
	}
	req.Header.Set(api.ArgsHeader, string(args))
	req.Header.Set(api.TenantHeader, owner.Tenant)
	req.Header.Set(api.WorkflowHeader, owner.Workflow)
	req.Header.Set(api.StepHeader, owner.Step)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "nebula-host call: %v\n", err)
		return exitLocal
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return remoteError(stderr, "call", resp)
	}
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
	if _, err := io.Copy(w, resp.Body); err != nil {
		fmt.Fprintf(stderr, "nebula-host call: reading the stream: %v\n", err)
		return exitRemote
	}
	if e := resp.Trailer.Get(api.ErrorTrailer); e != "" {
		var eb api.ErrorBody
		_ = json.Unmarshal([]byte(e), &eb)
		fmt.Fprintf(stderr, "nebula-host call: %s (%s)\n", eb.Error.Message, eb.Error.Kind)
		return exitRemote
	}
	// The result goes to stdout unless stdout carries the stream's output.
	result := resp.Trailer.Get(api.ResultTrailer)
	if outPath != "" || inPath != "" {
		fmt.Fprintln(stdout, result)
	} else {
		fmt.Fprintln(stderr, result)
	}
	return exitOK
}

// remoteError prints the error a running host answered command with.
func remoteError(stderr io.Writer, command string, resp *http.Response) int {
	var eb api.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || eb.Error.Message == "" {
		fmt.Fprintf(stderr, "nebula-host %s: %s\n", command, resp.Status)
		return exitRemote
	}
	fmt.Fprintf(stderr, "nebula-host %s: %s (%s)\n", command, eb.Error.Message, eb.Error.Kind)
	return exitRemote
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}
