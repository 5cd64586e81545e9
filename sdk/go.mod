// The SDK for plugin authors, a module of its own so that a plugin requires
// only what a plugin needs: gRPC, protobuf, the OpenTelemetry API's trace
// and baggage packages (the host's trace context in the ctx of a driver's
// methods), and goleak for the tests. Exporting spans is sdk/otelexport, a
// module of its own. go-plugin and go-hclog are the host's alone: the SDK
// speaks go-plugin's handshake itself (sdk/internal/goplugin), since the two
// brought a plugin's go.sum 11 modules of its 28 (docs/protocol.md).
module github.com/nebula-resource/nebula-resource/sdk

// go 1.25.0, the oldest release the code builds with (sync.WaitGroup.Go,
// iterators): plugin authors on the two supported Go releases can build it,
// and no patch release is forced on them. The requirements keep to it: grpc
// v1.84.0 is the newest grpc whose own go line is not above it (v1.85.0
// says go 1.26.0), OpenTelemetry and genproto are at the versions that grpc
// requires, protobuf and goleak at their newest. The host's go.mod may
// require newer ones; a plugin gets the newest any of its modules requires.
// scripts/cicheck checks what this costs a plugin's go.sum.
go 1.25.0

require (
	go.opentelemetry.io/otel v1.44.0
	go.opentelemetry.io/otel/trace v1.44.0
	go.uber.org/goleak v1.3.0
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260706201446-f0a921348800
	google.golang.org/grpc v1.84.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.40.0 // indirect
)
