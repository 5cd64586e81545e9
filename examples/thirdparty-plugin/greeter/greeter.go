// Package greeter is a small nebula-resource driver: a resource of type
// "greeter" greets people by name. It is written on the SDK's typed API:
// the resource type is declared once from its config struct and the
// methods of its instance, and the SDK publishes their schemas, decodes
// and validates the config and each call's arguments, and dispatches.
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

// Version is the driver's version.
const Version = "0.1.0"

// New returns the greeter driver.
func New() sdk.Driver { return sdk.NewDriver("greeter", Version, greeterType) }

// greeterType declares the resource type: its config, how a resource is
// configured, and the operations of its instances.
var greeterType = sdk.ResourceDef[Config, *Instance]{
	Name:        TypeName,
	Description: "Greets people by name.",
	// A greeter holds no session, so one instance can serve every caller
	// at once.
	Pooling:   sdk.PoolingShared,
	Configure: configure,
	Operations: []sdk.Op[*Instance]{
		sdk.NewOp("greet", "Returns a greeting for the given name.", (*Instance).Greet).Idempotent(),
	},
}

// Config is the configuration of a greeter resource, the attributes of its
// resource block.
type Config struct {
	Greeting string `nebula:"greeting" default:"Hello" doc:"The word that starts every greeting."`
	Shout    bool   `nebula:"shout" default:"false" doc:"Greet in capital letters."`
}

// Validate refuses an empty greeting. The host checks the config before
// it configures the resource, and shows the error at the greeting
// attribute in the HCL.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Greeting) == "" {
		return sdk.AttributeError("greeting", "must not be empty",
			`Set a word such as "Hello", or remove the attribute to use the default.`)
	}
	return nil
}

// configure prepares one greeter resource from its decoded, valid config.
func configure(_ context.Context, name string, cfg Config) (sdk.Resource, error) {
	// Lines logged with log/slog arrive in the host's log.
	slog.Info("greeter configured", "resource", name, "shout", cfg.Shout)
	return &Resource{cfg: cfg}, nil
}

// Resource is one configured greeter.
type Resource struct {
	cfg Config
}

// Open returns an instance. A greeter has no backend, so this is cheap.
func (r *Resource) Open(context.Context) (sdk.Instance, error) {
	return &Instance{cfg: r.cfg}, nil
}

// Close releases nothing; a greeter holds nothing.
func (r *Resource) Close(context.Context) error { return nil }

// Instance greets. It is safe for concurrent use, as PoolingShared requires.
type Instance struct {
	cfg    Config
	closed atomic.Bool
}

// Check reports whether the instance is open.
func (i *Instance) Check(context.Context) error {
	if i.closed.Load() {
		return sdk.Errorf(sdk.KindUnavailable, "greeter instance is closed")
	}
	return nil
}

// GreetArgs are the arguments of the greet operation.
type GreetArgs struct {
	Name string `nebula:"name,required" doc:"Who to greet."`
}

// Validate refuses an empty name; the caller gets invalid_argument.
func (a GreetArgs) Validate() error {
	if strings.TrimSpace(a.Name) == "" {
		return sdk.Errorf(sdk.KindInvalidArgument, "name must not be empty")
	}
	return nil
}

// GreetResult is the result of the greet operation.
type GreetResult struct {
	Message string `json:"message"`
}

// Greet performs the greet operation.
func (i *Instance) Greet(ctx context.Context, args GreetArgs) (GreetResult, error) {
	if err := i.Check(ctx); err != nil {
		return GreetResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return GreetResult{}, sdk.WrapError(sdk.KindOf(err), err, "greet")
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
