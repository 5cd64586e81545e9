// Package release holds the version of nebula-resource's own binaries:
// nebula-host and the plugins in plugins/. A release build sets it:
//
//	make build RELEASE=v1.2.3
//
// which links every binary with
//
//	-ldflags "-X github.com/nebula-resource/nebula-resource/internal/release.version=v1.2.3"
//
// Any other build reports the version in the binary's build information
// (a module version when installed with go install module@version), or
// "dev"; plugins are built without VCS stamps, so that a plugin's checksum
// changes only when its code or its release does.
package release

import "github.com/nebula-resource/nebula-resource/sdk"

// version is set by the linker in a release build.
var version string

// Version is the version of this build: the release's, or the one in the
// build information, or "dev".
func Version() string {
	if version != "" {
		return version
	}
	return sdk.BuildVersion()
}
