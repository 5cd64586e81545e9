// Command nebula-plugin-grpc is the plugin binary of the grpc driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/grpcclient"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/otelexport"
)

// main serves the driver; with otelexport.Option the plugin exports its
// spans when the host exports its own (docs/operations.md).
func main() { sdk.Serve(grpcclient.New(), otelexport.Option()) }
