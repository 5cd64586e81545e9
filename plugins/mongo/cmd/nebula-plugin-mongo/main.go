// Command nebula-plugin-mongo is the plugin binary of the mongo driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/mongo"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/otelexport"
)

// main serves the driver; with otelexport.Option the plugin exports its
// spans when the host exports its own (docs/operations.md).
func main() { sdk.Serve(mongo.New(), otelexport.Option()) }
