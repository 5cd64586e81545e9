package host_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// An embedding caller that passes more than max_message_size to a plugin
// gets invalid_argument naming the setting, not a retryable-looking
// resource_exhausted, and the breaker does not count it.
func TestMessageOverMaxMessageSizeIsTheCallersMistake(t *testing.T) {
	cfg := loadHCL(t, fmt.Sprintf(`
host { max_message_size = "1MiB" }
plugin "memory" { path = %q }
resource "memory" "cache" {
  resilience {
    circuit_breaker {
      failure_threshold = 1
      open_for          = "1h"
    }
  }
}
`, pluginPath("memory")))
	h := startHost(t, cfg, host.WithLogger(quietLogger()))
	big := strings.Repeat("x", 2<<20)
	for range 3 {
		_, err := h.Invoke(t.Context(), "memory.cache", "set", map[string]any{"key": "k", "value": big})
		var e *sdk.Error
		if sdk.KindOf(err) != sdk.KindInvalidArgument || !errors.As(err, &e) || e.Code != sdk.CodeMessageTooLarge || !strings.Contains(err.Error(), "max_message_size") {
			t.Fatalf("set of 2 MiB over a 1 MiB limit: %v", err)
		}
	}
	if _, err := h.Invoke(t.Context(), "memory.cache", "set", map[string]any{"key": "k", "value": big[:512<<10]}); err != nil {
		t.Fatalf("set of 512 KiB after the refusals (is the breaker open?): %v", err)
	}
}
