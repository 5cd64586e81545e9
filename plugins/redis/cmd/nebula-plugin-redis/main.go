// Command nebula-plugin-redis is the plugin binary of the Redis driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/redis"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() { sdk.Serve(redis.New()) }
