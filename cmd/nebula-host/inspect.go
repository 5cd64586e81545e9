package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// inspect starts the plugins of the configuration given by -config, or,
// without one, every nebula-plugin-* binary in the plugin directories, and
// describes them.
func inspect(cf *configFlags, stderr io.Writer) ([]host.PluginInfo, map[string]sdk.ResourceType, bool) {
	var cfg *config.Config
	if cf.path != "" {
		var ok bool
		if cfg, ok = cf.load(stderr); !ok {
			return nil, nil, false
		}
	} else {
		cfg = &config.Config{}
		dirs := append([]string(nil), cf.pluginDir...)
		if exe, err := os.Executable(); err == nil {
			dirs = append(dirs, filepath.Join(filepath.Dir(exe), "plugins"))
		}
		seen := map[string]bool{}
		for _, dir := range dirs {
			matches, _ := filepath.Glob(filepath.Join(dir, host.PluginPrefix+"*"))
			for _, m := range matches {
				name := strings.TrimPrefix(filepath.Base(m), host.PluginPrefix)
				if !seen[name] {
					seen[name] = true
					cfg.Plugins = append(cfg.Plugins, &config.Plugin{Name: name, Path: m})
				}
			}
		}
	}
	log := cf.logger(cfg, io.Discard)
	plugins, types, err := host.Inspect(context.Background(), cfg, cf.hostOptions(log)...)
	if err != nil {
		printHostError(stderr, err)
		return nil, nil, false
	}
	return plugins, types, true
}

func cmdPlugins(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprintln(stderr, "usage: nebula-host plugins list [-config PATH] [-plugin-dir DIR] [-json]")
		return exitLocal
	}
	fs := flag.NewFlagSet("plugins list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs, true)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return exitLocal
	}
	plugins, _, ok := inspect(&cf, stderr)
	if !ok {
		return exitLocal
	}
	if *asJSON {
		return printJSON(stdout, plugins)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tPROTOCOL\tTYPES\tSHA256\tPATH")
	for _, p := range plugins {
		sum := p.SHA256
		if len(sum) > 12 {
			sum = sum[:12] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", p.Name, p.Version, p.Protocol, strings.Join(p.Types, ","), sum, p.Path)
	}
	_ = tw.Flush()
	return exitOK
}

func cmdDescribe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("describe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs, true)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return exitLocal
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: nebula-host describe [-config PATH] [-plugin-dir DIR] [-json] TYPE")
		return exitLocal
	}
	name := fs.Arg(0)
	_, types, ok := inspect(&cf, stderr)
	if !ok {
		return exitLocal
	}
	t, found := types[name]
	if !found {
		names := make([]string, 0, len(types))
		for n := range types {
			names = append(names, n)
		}
		sort.Strings(names)
		msg := fmt.Sprintf("nebula-host: no plugin offers resource type %q", name)
		if s := config.Suggest(name, names); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		fmt.Fprintf(stderr, "%s (types: %s)\n", msg, strings.Join(names, ", "))
		return exitLocal
	}
	if *asJSON {
		return printJSON(stdout, typeJSON(t))
	}
	writeType(stdout, t)
	return exitOK
}

// typeDoc is the JSON shape of describe -json.
type typeDoc struct {
	Name         string               `json:"name"`
	Description  string               `json:"description"`
	Pooling      sdk.Pooling          `json:"pooling"`
	Capabilities []string             `json:"capabilities"`
	Config       []host.ArgInfo       `json:"config"`
	Operations   []host.OperationInfo `json:"operations"`
}

func typeJSON(t sdk.ResourceType) typeDoc {
	doc := typeDoc{Name: t.Name, Description: t.Description, Pooling: t.Pooling, Capabilities: t.Capabilities, Config: []host.ArgInfo{}}
	if doc.Pooling == "" {
		doc.Pooling = sdk.PoolingShared
	}
	for _, a := range t.Config.Attributes {
		doc.Config = append(doc.Config, host.ArgInfo{Name: a.Name, Type: a.Type.String(), Required: a.Required, Default: a.Default, Sensitive: a.Sensitive, Description: a.Description})
	}
	doc.Operations = host.OperationInfos(t.Operations)
	return doc
}

func writeType(w io.Writer, t sdk.ResourceType) {
	doc := typeJSON(t)
	fmt.Fprintf(w, "Resource type %q: %s\n", doc.Name, doc.Description)
	caps := "none"
	if len(doc.Capabilities) > 0 {
		caps = strings.Join(doc.Capabilities, ", ")
	}
	fmt.Fprintf(w, "Pooling: %s. Capabilities: %s.\n\n", doc.Pooling, caps)
	fmt.Fprintln(w, "Settings:")
	writeArgs(w, doc.Config)
	fmt.Fprintln(w, "\nOperations:")
	for _, op := range doc.Operations {
		flags := []string{}
		if op.Idempotent {
			flags = append(flags, "idempotent")
		}
		if op.Stream != "" {
			flags = append(flags, "streams "+string(op.Stream))
		}
		fmt.Fprintf(w, "  %s", op.Name)
		if len(flags) > 0 {
			fmt.Fprintf(w, " (%s)", strings.Join(flags, ", "))
		}
		fmt.Fprintf(w, ": %s\n", op.Description)
		writeArgs(w, op.Args)
	}
}

func writeArgs(w io.Writer, args []host.ArgInfo) {
	if len(args) == 0 {
		fmt.Fprintln(w, "    (none)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, a := range args {
		var notes []string
		if a.Required {
			notes = append(notes, "required")
		}
		if a.Default != nil {
			notes = append(notes, "default "+string(a.Default))
		}
		if a.Sensitive {
			notes = append(notes, "sensitive")
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", a.Name, a.Type, strings.Join(notes, ", "), a.Description)
	}
	_ = tw.Flush()
}

func printJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitLocal
	}
	return exitOK
}
