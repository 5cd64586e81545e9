package admin_test

import (
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
)

func TestReadyzIgnoresAResourceThatIsNotCritical(t *testing.T) {
	// The localfs root does not exist and is not created: the resource
	// fails to start, and the host starts without it.
	srv, _ := newServerWith(t, func(dir string) string {
		return `
resource "memory" "cache" {}
resource "localfs" "files" {
  root     = "` + filepath.Join(dir, "missing") + `"
  critical = false
}`
	})
	code, body := get(t, srv.URL+"/readyz?verbose")
	want := regexp.MustCompile(`^\[\+\]memory\.cache ok, health (starting|healthy)\n\[-\]localfs\.files failed \(not critical\), health unhealthy: .+\nhealth unhealthy \(.*\)\nok\n$`)
	if code != http.StatusOK || !want.MatchString(body) {
		t.Fatalf("readyz?verbose: %d %q; want 200 with localfs.files failed (not critical)", code, body)
	}
	if code, body := get(t, srv.URL+"/v1/resources/localfs.files"); code != 200 || !regexp.MustCompile(`"critical": false`).MatchString(body) {
		t.Fatalf("GET localfs.files: %d %s; want \"critical\": false", code, body)
	}
}
