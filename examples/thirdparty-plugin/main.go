// Command nebula-plugin-greeter is a nebula-resource driver plugin written
// the way a third party would write one: in its own module, importing only
// the SDK. It offers the resource type "greeter".
//
// The host starts it; run by hand it only prints what it is.
package main

import (
	"example.com/nebula-plugin-greeter/greeter"

	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() { sdk.Serve(greeter.New()) }
