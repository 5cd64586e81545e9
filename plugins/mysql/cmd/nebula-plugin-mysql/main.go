// Command nebula-plugin-mysql is the plugin binary of the mysql driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/mysql"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() { sdk.Serve(mysql.New()) }
