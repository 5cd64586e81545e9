package gcs_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// delete starts a goroutine per key, and the storage client's uploads one
// per writer; each must be done when the test is.
//
// STORAGE_EMULATOR_HOST (scripts/testenv env sets it) makes the storage
// client send every request there without credentials, whatever the
// configuration says; the tests configure the endpoint instead, as a
// plugin binary, which inherits no environment, sees it.
func TestMain(m *testing.M) {
	_ = os.Unsetenv("STORAGE_EMULATOR_HOST")
	goleak.VerifyTestMain(m)
}
