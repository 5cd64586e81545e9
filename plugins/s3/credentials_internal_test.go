package s3

import (
	"strings"
	"testing"
)

func TestSessionNameIsWhatSTSTakes(t *testing.T) {
	long := strings.Repeat("x", 100)
	for resource, want := range map[string]string{
		"reports":       "nebula-reports",
		"a b/é:c@d.e_f": "nebula-a-b---c@d.e_f",
		long:            "nebula-" + long[:57],
	} {
		got := sessionName(resource)
		if got != want || !validRoleValue(got, 64, "") {
			t.Errorf("sessionName(%q) = %q, want %q", resource, got, want)
		}
	}
}
