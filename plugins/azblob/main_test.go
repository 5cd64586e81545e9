package azblob_test

import (
	"testing"

	"go.uber.org/goleak"
)

// put and delete start goroutines; each must be done when the test is.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
