// Command nebula-plugin-greeter is the nebula-resource plugin of the "greeter"
// resource type. The host starts it; run by hand, it only says what it is.
package main

import (
	"example.com/nebula-plugin-greeter/greeter"

	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() { sdk.Serve(greeter.New()) }
