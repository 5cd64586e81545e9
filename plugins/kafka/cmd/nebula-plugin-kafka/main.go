// Command nebula-plugin-kafka is the plugin binary of the Kafka driver.
package main

import (
	"github.com/nebula-resource/nebula-resource/plugins/kafka"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() { sdk.Serve(kafka.New()) }
