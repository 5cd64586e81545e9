// Command nebula-plugin-s3 is the plugin binary of the s3 driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/s3"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/otelexport"
)

// main serves the driver; with otelexport.Option the plugin exports its
// spans when the host exports its own (docs/operations.md).
func main() { sdk.Serve(s3.New(), otelexport.Option()) }
