package sqlite_test

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nebula-resource/nebula-resource/plugins/sqlite"
	"github.com/nebula-resource/nebula-resource/sdk"
	"github.com/nebula-resource/nebula-resource/sdk/sdktest"
)

func suite(path string) sdktest.Suite {
	return sdktest.Suite{
		Type:          "sqlite",
		Config:        `{"path": ` + strconv.Quote(path) + `, "busy_timeout": "5s"}`,
		InvalidConfig: `{"path": "x.db", "journal_mode": "sideways"}`,
		Probe:         sdk.InvokeRequest{Operation: "ping", Args: json.RawMessage(`{}`)},
	}
}

func TestConformanceInProcess(t *testing.T) {
	t.Run("File", func(t *testing.T) {
		sdktest.RunDriver(t, sqlite.New(), suite(filepath.Join(t.TempDir(), "conformance.db")))
	})
	t.Run("Memory", func(t *testing.T) {
		sdktest.RunDriver(t, sqlite.New(), suite(":memory:"))
	})
}

func TestConformanceAsBuiltBinary(t *testing.T) {
	bin := sdktest.Build(t, "./cmd/nebula-plugin-sqlite")
	t.Run("File", func(t *testing.T) {
		sdktest.RunBinary(t, bin, suite(filepath.Join(t.TempDir(), "conformance.db")))
	})
	t.Run("Memory", func(t *testing.T) {
		sdktest.RunBinary(t, bin, suite(":memory:"))
	})
}
