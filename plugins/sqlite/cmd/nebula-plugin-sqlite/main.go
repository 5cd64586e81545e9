// Command nebula-plugin-sqlite is the plugin binary of the sqlite driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/sqlite"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() { sdk.Serve(sqlite.New()) }
