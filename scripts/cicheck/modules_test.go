package cicheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The module path of the repository's root module, and of the SDK and its
// exporter, the modules a third-party plugin may require.
const (
	rootModule       = "github.com/nebula-resource/nebula-resource"
	sdkModule        = rootModule + "/sdk"
	otelexportModule = sdkModule + "/otelexport"
)

// maxPluginModules is the most modules examples/thirdparty-plugin's go.sum
// may name: what a plugin built on the SDK alone pulls in. go mod tidy
// keeps the checksums of every module that provides a package the plugin
// builds or that the tests of those packages import, and of the go.mod of
// every module in the graph that decides their versions, so a go.sum names
// more modules than the binary links. With the SDK at grpc v1.84.0 and
// OpenTelemetry v1.44.0 the 17 are:
//
//   - 9 linked into the plugin: grpc, protobuf, genproto/googleapis/rpc,
//     x/net, x/sys, x/text (gRPC and protobuf); otel, otel/trace and
//     cespare/xxhash (the host's trace context in the ctx of a driver's
//     methods, and on the plugin's log lines);
//   - 7 that tests of those import: google/go-cmp (protobuf, grpc,
//     OpenTelemetry), gonum (grpc), golang/protobuf (grpc), and
//     stretchr/testify with davecgh/go-spew, pmezard/go-difflib and
//     gopkg.in/yaml.v3 (OpenTelemetry);
//   - go.uber.org/goleak, which the SDK's own tests import.
//
// Without the three OpenTelemetry modules, all come with gRPC, which a
// plugin cannot do without. The SDK speaks go-plugin's handshake itself
// (sdk/internal/goplugin, docs/protocol.md) rather than importing
// go-plugin and go-hclog, which made it 28: they added go-plugin, yamux,
// oklog/run, go-hclog, fatih/color, mattn/go-colorable and mattn/go-isatty
// to the linked modules, jhump/protoreflect and bufbuild/protocompile to
// the tested ones, and stretchr/objx and gopkg.in/check.v1 for their go.mod
// alone (go-hclog's go.mod says go 1.13, so the go command reads its whole
// requirement graph). OpenTelemetry's propagation package instead of the
// SDK's own W3C code would add five more (its tests import OpenTelemetry's
// globals); the SDK's former dependency on the OpenTelemetry SDK and
// exporter made it 44. A plugin that requires a released SDK, rather than
// replacing it with a directory as the example does, has one line more: the
// SDK's own.
const maxPluginModules = 17

// TestThirdPartyPluginPullsOnlyTheSDK checks examples/thirdparty-plugin,
// a plugin in a module of its own: its go.mod and go.sum are what go mod
// tidy makes of them, it requires the SDK module and no other module of
// this repository, its go.sum names at most maxPluginModules modules, none
// of them go-plugin or go-hclog, and none the OpenTelemetry SDK or an
// exporter, which a plugin gets only when it opts into sdk/otelexport.
func TestThirdPartyPluginPullsOnlyTheSDK(t *testing.T) {
	dir := filepath.Join(root, "examples/thirdparty-plugin")
	// -diff changes nothing, and fails when tidying would.
	goCommand(t, dir, "mod", "tidy", "-diff")

	var mod struct {
		Require []struct{ Path string }
		Replace []struct{ Old, New struct{ Path string } }
	}
	if err := json.Unmarshal(goCommand(t, dir, "mod", "edit", "-json"), &mod); err != nil {
		t.Fatal(err)
	}
	for _, r := range mod.Require {
		if strings.HasPrefix(r.Path, rootModule) && r.Path != sdkModule {
			t.Errorf("examples/thirdparty-plugin requires %s; a plugin requires the SDK module, %s, alone", r.Path, sdkModule)
		}
	}
	if !slices.ContainsFunc(mod.Require, func(r struct{ Path string }) bool { return r.Path == sdkModule }) {
		t.Errorf("examples/thirdparty-plugin does not require %s", sdkModule)
	}
	for _, r := range mod.Replace {
		if r.Old.Path != sdkModule || r.New.Path != "../../sdk" {
			t.Errorf("examples/thirdparty-plugin replaces %s with %s; want only %s with ../../sdk", r.Old.Path, r.New.Path, sdkModule)
		}
	}

	mods := sumModules(t, filepath.Join(dir, "go.sum"))
	if len(mods) > maxPluginModules {
		t.Errorf("examples/thirdparty-plugin's go.sum names %d modules, more than the budget of %d:\n\t%s\n(what needs each: cd examples/thirdparty-plugin && go mod why -m MODULE)",
			len(mods), maxPluginModules, strings.Join(mods, "\n\t"))
	}
	if bad := exportModules(mods); len(bad) > 0 {
		t.Errorf("examples/thirdparty-plugin, which does not export its spans, pulls in %v; the SDK must leave the OpenTelemetry SDK and exporters to sdk/otelexport. Its go.sum:\n\t%s",
			bad, strings.Join(mods, "\n\t"))
	}
	for _, m := range []string{"github.com/hashicorp/go-plugin", "github.com/hashicorp/go-hclog"} {
		if slices.Contains(mods, m) {
			t.Errorf("examples/thirdparty-plugin pulls in %s; the SDK speaks go-plugin's handshake itself (sdk/internal/goplugin), and go-plugin and go-hclog are the host's alone (cd examples/thirdparty-plugin && go mod why -m %s)", m, m)
		}
	}
	t.Logf("examples/thirdparty-plugin's go.sum names %d modules (budget %d):\n\t%s", len(mods), maxPluginModules, strings.Join(mods, "\n\t"))
}

// TestAPluginThatOptsIntoExportGetsTheExporter is the other side of the
// same promise: the example plugin, its main changed to opt into
// sdk/otelexport, tidies into a go.sum with the OpenTelemetry SDK and the
// OTLP exporter, and builds.
func TestAPluginThatOptsIntoExportGetsTheExporter(t *testing.T) {
	src := filepath.Join(root, "examples/thirdparty-plugin")
	abs := func(rel string) string {
		p, err := filepath.Abs(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dir := t.TempDir()
	copyTree(t, src, dir)
	mainGo := filepath.Join(dir, "main.go")
	main, err := os.ReadFile(mainGo)
	if err != nil {
		t.Fatal(err)
	}
	optedIn := strings.Replace(string(main), "sdk.Serve(greeter.New())", "sdk.Serve(greeter.New(), otelexport.Option())", 1)
	optedIn = strings.Replace(optedIn, "\t\""+sdkModule+"\"\n", "\t\""+sdkModule+"\"\n\t\""+otelexportModule+"\"\n", 1)
	if optedIn == string(main) || !strings.Contains(optedIn, "otelexport.Option()") {
		t.Fatalf("examples/thirdparty-plugin/main.go no longer reads as the test expects:\n%s", main)
	}
	if err := os.WriteFile(mainGo, []byte(optedIn), 0o644); err != nil {
		t.Fatal(err)
	}
	goCommand(t, dir, "mod", "edit",
		"-require", otelexportModule+"@v0.0.0",
		"-replace", sdkModule+"="+abs("sdk"),
		"-replace", otelexportModule+"="+abs("sdk/otelexport"))
	// The checksums the repository already holds, so that tidying needs
	// no checksum database; tidy drops the ones it does not need.
	var sums []byte
	for _, f := range []string{"examples/thirdparty-plugin/go.sum", "sdk/otelexport/go.sum", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, b...)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sums, 0o644); err != nil {
		t.Fatal(err)
	}
	goCommand(t, dir, "mod", "tidy")
	goCommand(t, dir, "build", "-o", os.DevNull, ".")

	mods := sumModules(t, filepath.Join(dir, "go.sum"))
	for _, want := range []string{"go.opentelemetry.io/otel/sdk", "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"} {
		if !slices.Contains(mods, want) {
			t.Errorf("a plugin that opts into sdk/otelexport does not get %s; its go.sum:\n\t%s", want, strings.Join(mods, "\n\t"))
		}
	}
	t.Logf("opting into sdk/otelexport: %d modules in go.sum", len(mods))
}

// exportModules returns the modules of mods that only exporting spans
// needs: the OpenTelemetry SDK and any exporter.
func exportModules(mods []string) []string {
	var out []string
	for _, m := range mods {
		if m == "go.opentelemetry.io/otel/sdk" || strings.HasPrefix(m, "go.opentelemetry.io/otel/sdk/") ||
			strings.Contains(m, "/exporters/") || strings.HasPrefix(m, "go.opentelemetry.io/proto/") {
			out = append(out, m)
		}
	}
	return out
}

// sumModules returns the distinct module paths of a go.sum file, sorted.
func sumModules(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 {
			mods = append(mods, f[0])
		}
	}
	slices.Sort(mods)
	return slices.Compact(mods)
}

// goCommand runs the go command in dir and returns its standard output.
// It needs no network where the module cache already holds what the
// command reads; -mod=mod lets the go command write go.mod and go.sum
// where it is asked to, and GOWORK=off keeps a workspace out of it.
func goCommand(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s (in %s): %v\n%s%s", strings.Join(args, " "), dir, err, out, stderr.Bytes())
	}
	return out
}

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestExportModulesAreTheOpenTelemetrySDKAndExporters(t *testing.T) {
	mods := []string{
		"go.opentelemetry.io/otel",
		"go.opentelemetry.io/otel/trace",
		"go.opentelemetry.io/otel/sdk",
		"go.opentelemetry.io/otel/sdk/metric",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc",
		"go.opentelemetry.io/proto/otlp",
		"google.golang.org/grpc",
	}
	want := []string{
		"go.opentelemetry.io/otel/sdk",
		"go.opentelemetry.io/otel/sdk/metric",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace",
		"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc",
		"go.opentelemetry.io/proto/otlp",
	}
	if got := exportModules(mods); !slices.Equal(got, want) {
		t.Errorf("exportModules = %q, want %q", got, want)
	}
}
