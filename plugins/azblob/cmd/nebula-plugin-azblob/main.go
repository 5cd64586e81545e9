// Command nebula-plugin-azblob is the plugin binary of the azblob driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/azblob"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/otelexport"
)

// main serves the driver; with otelexport.Option the plugin exports its
// spans when the host exports its own (docs/operations.md).
func main() { sdk.Serve(azblob.New(), otelexport.Option()) }
