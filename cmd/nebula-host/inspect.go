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
	"time"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/host/supervisor"
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
				// A directory or a file no one may execute is named like a
				// plugin but is none: say so, and list the others.
				if err := supervisor.CheckBinary(m, true); err != nil {
					if !seen[name] {
						fmt.Fprintf(stderr, "nebula-host: skipped: %v\n", err)
					}
					continue
				}
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
		printHostError(stderr, cfg, err)
		return nil, nil, false
	}
	return plugins, types, true
}

func cmdPlugins(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "new":
			return cmdPluginNew(args[1:], stdout, stderr)
		case "install":
			return cmdPluginsInstall(args[1:], stdout, stderr)
		case "verify":
			return cmdPluginsVerify(args[1:], stdout, stderr)
		case "upgrade":
			return cmdPluginsUpgrade(args[1:], stdout, stderr)
		}
	}
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprintln(stderr, "usage: nebula-host plugins list [-config PATH] [-plugin-dir DIR] [-json]\n       nebula-host plugins install [-config PATH] [-plugin-dir DIR] [-sha256 HEX] [-public-key KEY] SOURCE\n       nebula-host plugins verify [-config PATH] [-plugin-dir DIR]\n       nebula-host plugins upgrade [-config PATH] [-plugin-dir DIR] [-addr HOST:PORT] NAME [SOURCE]\n       nebula-host plugin new NAME [-capability CAP] [-module PATH] [-dir DIR]")
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
	addr := fs.String("addr", envOr("NEBULA_ADDR", api.DefaultAddress), "for TYPE.NAME: admin endpoint of the running host (env NEBULA_ADDR)")
	if err := fs.Parse(args); err != nil {
		return exitLocal
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: nebula-host describe [-config PATH] [-plugin-dir DIR] [-json] TYPE\n       nebula-host describe [-addr HOST:PORT] [-json] TYPE.NAME")
		return exitLocal
	}
	name := fs.Arg(0)
	if strings.Contains(name, ".") {
		return describeResource(*addr, name, *asJSON, stdout, stderr)
	}
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
	// Every operation a resource of the type answers, the ones the host
	// answers for its capabilities included.
	t = t.WithSQLOperations()
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
		switch {
		case op.Idempotent:
			flags = append(flags, "idempotent")
		case op.IdempotentWhen != "":
			flags = append(flags, "idempotent when "+op.IdempotentWhen)
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

// describeResource prints a running resource: its state, pool settings,
// pool statistics, the summary of its recent use with the pool's advice
// on max_size, and the leases out.
func describeResource(addr, name string, asJSON bool, stdout, stderr io.Writer) int {
	c, ok := newClient(stderr, "describe", addr, api.WithTimeout(10*time.Second))
	if !ok {
		return exitLocal
	}
	defer c.Close()
	info, err := c.Resource(context.Background(), name)
	if err != nil {
		return callFailed(stderr, "describe", addr, err)
	}
	if asJSON {
		return printJSON(stdout, info)
	}
	fmt.Fprintf(stdout, "Resource %s (plugin %s): %s", info.ID, info.Plugin, info.State)
	if info.Error != "" {
		fmt.Fprintf(stdout, ": %s", info.Error)
	}
	fmt.Fprintln(stdout)
	if len(info.DependsOn) > 0 {
		fmt.Fprintf(stdout, "Depends on: %s\n", strings.Join(info.DependsOn, ", "))
	}
	p := info.Pool
	st := p.Stat
	fmt.Fprintf(stdout, "\nPool: %s\n", p.Mode)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	ps := p.Settings
	if p.Mode == api.PoolingExclusive {
		fmt.Fprintf(tw, "  settings\tmin_size %d, max_size %d, max_idle %d, order %s\n", ps.MinSize, ps.MaxSize, ps.MaxIdle, ps.Order)
		fmt.Fprintf(tw, "  \tidle_timeout %s, max_lifetime %s (jitter %s), acquire_timeout %s, validate_after_idle %s\n", ps.IdleTimeout, ps.MaxLifetime, ps.LifetimeJitter, ps.AcquireTimeout, ps.ValidateAfterIdle)
	} else {
		fmt.Fprintf(tw, "  settings\treplicas %d, selection %s\n", ps.Replicas, ps.Selection)
	}
	fmt.Fprintf(tw, "  \tlease_timeout %s, reclaim %v\n", ps.LeaseTimeout, ps.Reclaim)
	fmt.Fprintf(tw, "  instances\ttotal %d, idle %d, in use %d, constructing %d, max %d, waiting %d\n", st.Total, st.Idle, st.InUse, st.Constructing, st.MaxSize, st.Waiting)
	fmt.Fprintf(tw, "  acquires\t%d (waited %v in all), empty %d, canceled %d, timeouts %d\n", st.AcquireCount, st.AcquireDuration, st.EmptyAcquireCount, st.CanceledAcquireCount, st.TimeoutCount)
	fmt.Fprintf(tw, "  lifecycle\tcreated %d; destroyed idle %d, lifetime %d, broken %d, closed %d\n", st.Created, st.DestroyedIdle, st.DestroyedLifetime, st.DestroyedBroken, st.DestroyedClosed)
	if w := st.Window; w.Window > 0 { // a host that keeps no window sends none
		if p.Mode == api.PoolingExclusive {
			us := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
			fmt.Fprintf(tw, "  window\tlast %v: acquires %d, waited %d, timeouts %d\n", w.Window.Round(time.Second), w.Acquires, w.Waited, w.Timeouts)
			fmt.Fprintf(tw, "  \twait p50 %v, p95 %v, p99 %v, max %v\n", us(w.WaitP50), us(w.WaitP95), us(w.WaitP99), us(w.WaitMax))
			fmt.Fprintf(tw, "  \tutilization mean %.0f %%, peak %.0f %% (in use mean %.1f, peak %d of %d)\n", 100*w.UtilizationMean, 100*w.UtilizationPeak, w.InUseMean, w.InUsePeak, st.MaxSize)
		} else {
			fmt.Fprintf(tw, "  window\tlast %v: acquires %d\n", w.Window.Round(time.Second), w.Acquires)
			fmt.Fprintf(tw, "  \tleases in flight mean %.1f, peak %d (per replica mean %.2f, peak %.2f)\n", w.InUseMean, w.InUsePeak, w.UtilizationMean, w.UtilizationPeak)
		}
		if w.Advice != "" {
			fmt.Fprintf(tw, "  advice\t%s\n", w.Advice)
		}
	}
	for i, r := range st.Replicas {
		fmt.Fprintf(tw, "  replica %d\topen %v, in flight %d, latency %v, error rate %.2f\n", i, r.Open, r.InFlight, r.Latency.Round(time.Microsecond), r.ErrorRate)
	}
	for _, l := range p.Leases {
		fmt.Fprintf(tw, "  lease\theld %v by %s\n", l.Held.Round(time.Millisecond), l.Owner)
	}
	_ = tw.Flush()
	return exitOK
}
