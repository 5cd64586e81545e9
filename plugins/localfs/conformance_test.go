package localfs_test

import (
	"encoding/json"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/localfs"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

func conformance(t *testing.T) sdktest.Suite {
	root, _ := json.Marshal(map[string]string{"root": t.TempDir()})
	return sdktest.Suite{
		Type:          "localfs",
		Config:        string(root),
		InvalidConfig: `{"root": ""}`,
		Probe:         sdk.InvokeRequest{Operation: "list", Args: json.RawMessage(`{}`)},
		Failing:       &sdk.InvokeRequest{Operation: "stat", Args: json.RawMessage(`{"key":"../x"}`)},
		FailingKind:   sdk.KindInvalidArgument,
	}
}

func blobSuite(t *testing.T) sdktest.BlobSuite {
	root, _ := json.Marshal(map[string]string{"root": t.TempDir()})
	return sdktest.BlobSuite{Type: "localfs", Config: string(root), Large: 3 << 20}
}

func TestLocalFSConformanceInProcess(t *testing.T) {
	sdktest.RunDriver(t, localfs.New(), conformance(t))
}

func TestLocalFSConformanceAsBuiltBinary(t *testing.T) {
	sdktest.RunBinary(t, sdktest.Build(t, "./cmd/nebula-plugin-localfs"), conformance(t))
}

// The blob capability's contract, in process over real gRPC and as the
// built binary.
func TestLocalFSBlobConformanceInProcess(t *testing.T) {
	sdktest.RunBlob(t, sdktest.Connect(t, localfs.New()), blobSuite(t))
}

func TestLocalFSBlobConformanceAsBuiltBinary(t *testing.T) {
	sdktest.RunBlob(t, sdktest.Start(t, sdktest.Build(t, "./cmd/nebula-plugin-localfs")), blobSuite(t))
}
