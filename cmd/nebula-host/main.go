// Command nebula-host runs nebula-resource resources and talks to a running
// host.
//
//	nebula-host run -config PATH          start plugins and resources, serve the admin endpoint
//	nebula-host validate [-json] PATH     check a configuration (exit 0 valid, 1 invalid)
//	nebula-host plugins list              list plugins, their versions and resource types
//	nebula-host plugins install SOURCE    install plugins from a directory, archive or https URL; record them in .nebula.lock.hcl
//	nebula-host plugins verify            check the installed plugins against .nebula.lock.hcl
//	nebula-host plugins upgrade NAME      install a plugin's new version; a running host switches to it without a restart
//	nebula-host plugin new NAME           write the module of a new plugin
//	nebula-host describe TYPE             show a resource type's schema and operations
//	nebula-host call NAME OP [JSON]       perform an operation on a running host
//	nebula-host health [-history] [-json] show the health of a running host's resources
//	nebula-host reload                    make a running host apply its configuration files anew
//	nebula-host probe [-live]             exit 0 when a running host is ready (live), for container health checks
//	nebula-host version                   print the version
//
// Exit codes: 0 success, 1 a local or configuration error, 2 an error
// reported by the running host; health exits 3 when the host's overall
// status is unhealthy.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/nebula-resource/nebula-resource/internal/release"
)

// version is this build's: a release's, or the one make build stamps
// (git describe), or the build information's (internal/release).
var version = release.Version()

// Exit codes.
const (
	exitOK     = 0
	exitLocal  = 1
	exitRemote = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitLocal
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "plugins", "plugin":
		return cmdPlugins(args[1:], stdout, stderr)
	case "describe":
		return cmdDescribe(args[1:], stdout, stderr)
	case "call":
		return cmdCall(args[1:], stdin, stdout, stderr)
	case "health":
		return cmdHealth(args[1:], stdout, stderr)
	case "probe":
		return cmdProbe(args[1:], stdout, stderr)
	case "reload":
		return cmdReload(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "nebula-host %s (plugin protocol %d)\n", version, protocolVersion)
		return exitOK
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "nebula-host: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitLocal
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: nebula-host <command> [flags]

Commands:
  run -config PATH         start plugins and resources and serve the admin endpoint
  validate [-json] PATH    check a configuration; exit 0 when valid, 1 when not
  plugins list             list plugins: name, version, protocol, types, checksum
  plugins install SOURCE   install plugins from a directory, .tar.gz/.zip or https URL; record them in .nebula.lock.hcl
  plugins verify           check the installed plugins against .nebula.lock.hcl
  plugins upgrade NAME     install a plugin's new version; a running host switches to it without a restart
  plugin new NAME          write the Go module of a new plugin (driver, tests, Makefile)
  describe TYPE            show a resource type's settings and operations
  call NAME OP [JSON]      perform an operation on a running host, print the JSON result
  health [-history|-json]  show a running host's resource health; exit 3 when it is unhealthy
  reload                   make a running host read its configuration files again, print what changed
  probe [-live]            exit 0 when a running host is ready (GET /readyz) or live, 3 when not ready
  version                  print the version

Run "nebula-host <command> -h" for a command's flags.
`)
}
