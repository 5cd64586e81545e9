// Command nebula-plugin-graphql is the plugin binary of the graphql
// driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/graphql"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/otelexport"
)

// main serves the driver; with otelexport.Option the plugin exports its
// spans when the host exports its own (docs/operations.md).
func main() { sdk.Serve(graphql.New(), otelexport.Option()) }
