// Package greeter is a small nebula-resource driver: a resource of type
// "greeter" greets people by name. It shows the parts every driver has (a
// tagged config struct, Info, Configure, a Resource and an Instance) and
// one optional interface, sdk.ConfigValidator.
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

// Config is the configuration of a greeter resource, the attributes of its
// resource block.
type Config struct {
	Greeting string `nebula:"greeting" default:"Hello" doc:"The word that starts every greeting."`
	Shout    bool   `nebula:"shout" default:"false" doc:"Greet in capital letters."`
}

// greetArgs are the arguments of the greet operation.
type greetArgs struct {
	Name string `nebula:"name,required" doc:"Who to greet."`
}

// greetResult is the result of the greet operation.
type greetResult struct {
	Message string `json:"message"`
}

var (
	configSchema = sdk.MustSchemaFor(Config{})
	greetSchema  = sdk.MustSchemaFor(greetArgs{})
)

// Driver is the greeter driver. New returns one.
type Driver struct{}

// New returns the greeter driver.
func New() *Driver { return &Driver{} }

// Info describes the driver and its one resource type.
func (d *Driver) Info() sdk.DriverInfo {
	return sdk.DriverInfo{
		Name:    "greeter",
		Version: Version,
		Types: []sdk.ResourceType{{
			Name:        TypeName,
			Description: "Greets people by name.",
			Config:      configSchema,
			// A greeter holds no session, so one instance can serve every
			// caller at once.
			Pooling: sdk.PoolingShared,
			Operations: []sdk.Operation{{
				Name:        "greet",
				Description: "Returns a greeting for the given name.",
				Args:        greetSchema,
				Idempotent:  true,
			}},
		}},
	}
}

// ValidateConfig refuses an empty greeting. The host calls it before
// Configure and shows the error at the greeting attribute in the HCL.
func (d *Driver) ValidateConfig(_ context.Context, req sdk.ValidateRequest) error {
	var cfg Config
	if err := req.Decode(&cfg); err != nil {
		return err
	}
	return cfg.validate()
}

func (c Config) validate() error {
	if strings.TrimSpace(c.Greeting) == "" {
		return sdk.AttributeError("greeting", "must not be empty",
			`Set a word such as "Hello", or remove the attribute to use the default.`)
	}
	return nil
}

// Configure prepares one greeter resource.
func (d *Driver) Configure(_ context.Context, req sdk.ConfigureRequest) (sdk.Resource, error) {
	if req.Type != TypeName {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "greeter driver has no resource type %q", req.Type)
	}
	var cfg Config
	if err := req.Decode(&cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, err, "invalid configuration of greeter "+req.Name)
	}
	// Lines logged with log/slog arrive in the host's log.
	slog.Info("greeter configured", "resource", req.Name, "shout", cfg.Shout)
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

// Invoke performs the greet operation.
func (i *Instance) Invoke(ctx context.Context, req sdk.InvokeRequest) (any, error) {
	if req.Operation != "greet" {
		return nil, sdk.Errorf(sdk.KindUnimplemented, "greeter has no operation %q", req.Operation)
	}
	if err := i.Check(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, sdk.WrapError(sdk.KindOf(err), err, "greet")
	}
	var args greetArgs
	if err := req.Decode(&args); err != nil {
		return nil, err // already of kind invalid_argument
	}
	if strings.TrimSpace(args.Name) == "" {
		return nil, sdk.Errorf(sdk.KindInvalidArgument, "name must not be empty")
	}
	msg := fmt.Sprintf("%s, %s!", i.cfg.Greeting, args.Name)
	if i.cfg.Shout {
		msg = strings.ToUpper(msg)
	}
	return greetResult{Message: msg}, nil
}

// Close closes the instance; later calls fail as unavailable.
func (i *Instance) Close(context.Context) error {
	i.closed.Store(true)
	return nil
}

// Interface guards.
var (
	_ sdk.Driver          = (*Driver)(nil)
	_ sdk.ConfigValidator = (*Driver)(nil)
	_ sdk.Resource        = (*Resource)(nil)
	_ sdk.Instance        = (*Instance)(nil)
)
