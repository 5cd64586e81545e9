// Command nebula-plugin-postgres is the plugin binary of the PostgreSQL
// driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/postgres"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() { sdk.Serve(postgres.New()) }
