module example.com/nebula-plugin-greeter

go 1.25.0

require github.com/nebula-resource/nebula-resource/sdk v0.0.0

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.opentelemetry.io/otel v1.44.0 // indirect
	go.opentelemetry.io/otel/trace v1.44.0 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260706201446-f0a921348800 // indirect
	google.golang.org/grpc v1.84.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// Builds against the SDK in a checkout; drop this line to require a
// released SDK instead.
replace github.com/nebula-resource/nebula-resource/sdk => ../../sdk
