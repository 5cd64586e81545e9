package azblob

import (
	"strings"
	"testing"
)

// Every metadata name the blob capability allows comes back as it was,
// though Azure stores C# identifiers and returns them in any case.
func TestMetadataNamesRoundTrip(t *testing.T) {
	for name, stored := range map[string]string{
		"owner":      "owner",
		"run-id":     "run_x2d_id",
		"created_by": "created_by",
		"7days":      "_x37_days",
		"a_x":        "a_x5f_x",
		"a_x2d_":     "a_x5f_x2d_",
		"_":          "_",
		"-":          "_x2d_",
		"x_x_x-":     "x_x5f_x_x5f_x_x2d_",
	} {
		if got := encodeName(name); got != stored {
			t.Errorf("encodeName(%q) = %q, want %q", name, got, stored)
		}
		// Azure gives names back in any case (Go canonicalizes headers).
		for _, back := range []string{stored, strings.ToUpper(stored[:1]) + stored[1:], strings.ToUpper(stored)} {
			if got := decodeName(back); got != name {
				t.Errorf("decodeName(%q) = %q, want %q", back, got, name)
			}
		}
	}
	// A name another writer stored keeps its own spelling, lowercased.
	if got := decodeName("Project_Xyz"); got != "project_xyz" {
		t.Errorf("decodeName(Project_Xyz) = %q", got)
	}
}
