// Command nebula-plugin-localfs is the plugin binary of the localfs driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() { sdk.Serve(localfs.New()) }
