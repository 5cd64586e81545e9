// Package greeter is the nebula-resource driver of the "greeter"
// resource type. It is written on the SDK's typed API: the resource type is
// declared once from its config struct and the methods of its instance, and
// the SDK publishes their schemas, decodes and validates the config and each
// call's arguments, and dispatches.
package greeter

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// TypeName is the resource type the driver offers.
const TypeName = "greeter"

// New returns the driver. Its version is the module's, from the binary's
// build information.
func New() sdk.Driver { return sdk.NewDriver(TypeName, "", resourceType) }

// resourceType declares the resource type: its config, how a resource is
// configured, and the operations of its instances.
var resourceType = sdk.ResourceDef[Config, *Instance]{
	Name:        TypeName,
	Description: "Greets people by name.",
	// An instance holds no session, so one serves every caller at once.
	Pooling:   sdk.PoolingShared,
	Configure: configure,
	Operations: []sdk.Op[*Instance]{
		sdk.NewOp("greet", "Returns a greeting for the given name.", (*Instance).Greet).Idempotent(),
	},
}

// Config is the configuration of a resource, the attributes of its
// resource block.
type Config struct {
	Greeting string `nebula:"greeting" default:"Hello" doc:"The word that starts every greeting."`
	Shout    bool   `nebula:"shout" default:"false" doc:"Greet in capital letters."`
}

// Validate refuses an empty greeting. The host checks the config before
// it configures the resource, and shows the error at the attribute in the
// HCL.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Greeting) == "" {
		return sdk.AttributeError("greeting", "must not be empty",
			`Set a word such as "Hello", or remove the attribute to use the default.`)
	}
	return nil
}

// configure prepares one resource from its decoded, valid config. A driver
// with a backend builds its client (and its connection pool) here.
func configure(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
	// Lines logged with log/slog arrive in the host's log.
	slog.Info("greeter configured", "resource", name, "shout", cfg.Shout)
	return &Resource{cfg: cfg}, nil
}

// Resource is one configured resource.
type Resource struct {
	cfg Config
}

// Open returns an instance, which the host pools.
func (r *Resource) Open(context.Context) (sdk.Instance, error) {
	return &Instance{cfg: r.cfg}, nil
}

// Close releases what the resource holds.
func (r *Resource) Close(context.Context) error { return nil }

// Instance performs the operations. It is safe for concurrent use, as
// PoolingShared requires.
type Instance struct {
	cfg    Config
	closed atomic.Bool
}

// Check reports whether the instance can serve calls; the host calls it
// to check the resource's health.
func (i *Instance) Check(context.Context) error {
	if i.closed.Load() {
		return sdk.Errorf(sdk.KindUnavailable, "%s instance is closed", TypeName)
	}
	return nil
}

// GreetArgs are the arguments of greet.
type GreetArgs struct {
	Name string `nebula:"name,required" doc:"Who to greet."`
}

// Validate refuses an empty name: the caller gets invalid_argument.
func (a GreetArgs) Validate() error {
	if strings.TrimSpace(a.Name) == "" {
		return sdk.Errorf(sdk.KindInvalidArgument, "name must not be empty")
	}
	return nil
}

// GreetResult is the result of greet.
type GreetResult struct {
	Message string `json:"message"`
}

// Greet performs the greet operation.
func (i *Instance) Greet(ctx context.Context, args GreetArgs) (GreetResult, error) {
	if err := i.Check(ctx); err != nil {
		return GreetResult{}, err
	}
	msg := fmt.Sprintf("%s, %s!", i.cfg.Greeting, args.Name)
	if i.cfg.Shout {
		msg = strings.ToUpper(msg)
	}
	return GreetResult{Message: msg}, nil
}

// Close closes the instance; later calls fail as unavailable.
func (i *Instance) Close(context.Context) error {
	i.closed.Store(true)
	return nil
}

// Interface guards.
var (
	_ sdk.Resource = (*Resource)(nil)
	_ sdk.Instance = (*Instance)(nil)
)
