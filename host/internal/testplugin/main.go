// Command testplugin is a driver plugin for the host's own tests. It offers
// resource type "probe", whose operations let a test see what a plugin
// sees (its environment and PID), make it log, leak a secret, block, or
// crash. With -protocol N it speaks plugin protocol version N, to test
// version negotiation.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/nebula-resource/nebula-resource/sdk"
)

type config struct {
	Password string `nebula:"password,sensitive" doc:"A secret the plugin must never print."`
	Label    string `nebula:"label" default:"probe"`
}

type args struct {
	Message  string        `nebula:"message"`
	Duration time.Duration `nebula:"duration"`
}

type driver struct{}

func (driver) Info() sdk.DriverInfo {
	a := sdk.MustSchemaFor(args{})
	op := func(name string, idem bool) sdk.Operation {
		return sdk.Operation{Name: name, Description: name, Args: a, Idempotent: idem}
	}
	return sdk.DriverInfo{Name: "probe", Version: "0.0.1", Types: []sdk.ResourceType{{
		Name:        "probe",
		Description: "Test probe.",
		Config:      sdk.MustSchemaFor(config{}),
		Pooling:     sdk.PoolingShared,
		Operations: []sdk.Operation{
			op("env", true), op("pid", true), op("echo", true), op("log", false), op("print", false),
			op("leak", false), op("sleep", true), op("crash", false),
		},
	}}}
}

func (driver) Configure(_ context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	var c config
	if err := req.Decode(&c); err != nil {
		return nil, err
	}
	return &resource{cfg: c}, nil
}

type resource struct{ cfg config }

func (r *resource) Open(context.Context) (sdk.Instance, error) { return &instance{cfg: r.cfg}, nil }
func (r *resource) Close(context.Context) error                { return nil }

type instance struct{ cfg config }

func (i *instance) Check(context.Context) error { return nil }
func (i *instance) Close(context.Context) error { return nil }

func (i *instance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	var a args
	if err := req.Decode(&a); err != nil {
		return nil, err
	}
	switch req.Operation {
	case "env":
		env := os.Environ()
		sort.Strings(env)
		return map[string]any{"env": env}, nil
	case "pid":
		return map[string]int{"pid": os.Getpid()}, nil
	case "echo":
		return map[string]string{"message": a.Message, "label": i.cfg.Label}, nil
	case "log":
		slog.Info(a.Message, "label", i.cfg.Label)
		return nil, nil
	case "print":
		// Plain output, not through the logger.
		fmt.Println(a.Message)
		return nil, nil
	case "leak":
		// A careless driver: the host must mask the secret anyway.
		slog.Error("connecting failed with password " + i.cfg.Password)
		return nil, sdk.Errorf(sdk.KindPermissionDenied, "login refused for password %s", i.cfg.Password)
	case "sleep":
		select {
		case <-time.After(a.Duration):
			return map[string]int{"pid": os.Getpid()}, nil
		case <-ctx.Done():
			return nil, sdk.WrapError(sdk.KindCanceled, ctx.Err(), "sleep")
		}
	case "crash":
		os.Exit(3)
	}
	return nil, sdk.Errorf(sdk.KindInvalidArgument, "unknown operation %q", req.Operation)
}

func main() {
	protocol := flag.Int("protocol", sdk.ProtocolVersion, "plugin protocol version to speak")
	flag.Parse()
	if *protocol == sdk.ProtocolVersion {
		sdk.Serve(driver{})
		return
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{*protocol: {sdk.PluginName: &sdk.GRPCPlugin{Driver: driver{}}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
