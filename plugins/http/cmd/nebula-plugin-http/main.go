// Command nebula-plugin-http is the plugin binary of the http driver.
package main

import (
	httpclient "github.com/nebula-resource/nebula-resource/plugins/http"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/otelexport"
)

// main serves the driver; with otelexport.Option the plugin exports its
// spans when the host exports its own (docs/operations.md).
func main() { sdk.Serve(httpclient.New(), otelexport.Option()) }
