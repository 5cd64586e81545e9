package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/nebula-resource/nebula-resource/internal/scaffold"
)

// cmdPluginNew writes a new plugin's module: nebula-host plugin new NAME.
func cmdPluginNew(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plugin new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: nebula-host plugin new NAME [flags]

Writes the Go module of a new plugin into a directory: a driver for the
resource type NAME on the SDK's typed API, its tests (the SDK's conformance
checks among them), a Makefile and a README; then runs go mod tidy there.

Flags:
`)
		fs.PrintDefaults()
	}
	var o scaffold.Options
	fs.StringVar(&o.Capability, "capability", "", "the capability the type offers: "+strings.Join(scaffold.Capabilities, ", ")+"; none when empty (one operation of its own)")
	fs.StringVar(&o.Module, "module", "", "the module path (default example.com/nebula-plugin-NAME)")
	fs.StringVar(&o.SDKDir, "sdk", "", "build against the SDK in this directory (a checkout's sdk/), through a replace directive")
	fs.StringVar(&o.SDKVersion, "sdk-version", sdkRelease(), "the SDK version to require; empty: the latest (go mod tidy)")
	dir := fs.String("dir", ".", "the directory to write into; made when missing")
	tidy := fs.Bool("tidy", true, "run go mod tidy in the new module")
	// NAME may come before the flags, as the usage line has it.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		o.Name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return exitLocal
	}
	if o.Name == "" && fs.NArg() > 0 {
		o.Name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nebula-host plugin new: unexpected %q after the flags\n", fs.Arg(0))
		return exitLocal
	}
	if o.Name == "" {
		fs.Usage()
		return exitLocal
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "nebula-host plugin new: %v\n", err)
		return exitLocal
	}
	files, err := scaffold.Write(*dir, o)
	if err != nil {
		fmt.Fprintf(stderr, "nebula-host plugin new: %v\n", err)
		return exitLocal
	}
	abs, _ := filepath.Abs(*dir)
	fmt.Fprintf(stdout, "Wrote the plugin nebula-plugin-%s in %s:\n", o.Name, abs)
	for _, f := range files {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	if *tidy {
		cmd := exec.Command("go", "mod", "tidy")
		cmd.Dir = *dir
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(stderr, "nebula-host plugin new: go mod tidy in %s: %v\n", abs, err)
			if o.SDKDir == "" {
				fmt.Fprintln(stderr, "To build against an SDK that is not released, give its directory: -sdk PATH/sdk")
			}
			return exitLocal
		}
	}
	fmt.Fprintf(stdout, "\nNext, in %s:\n  make test    (go test -race ./...)\n  make build   (go build -o nebula-plugin-%s .)\n  make sha256  (the checksum for the host's plugin block)\n", abs, o.Name)
	return exitOK
}

var semver = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

// sdkRelease is the SDK version a new plugin requires by default: this
// host's, when it is a release (the SDK is tagged with the same version),
// else none.
func sdkRelease() string {
	if semver.MatchString(version) {
		return version
	}
	return ""
}
