package s3_test

import (
	"testing"

	"go.uber.org/goleak"
)

// put starts a goroutine per part; each must be done when the test is.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
