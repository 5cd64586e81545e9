// Command nebula-plugin-memory is the plugin binary of the memory driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/memory"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() { sdk.Serve(memory.New()) }
