package plugininstall

import "errors"

// Sentinel errors. The errors of the package wrap one of these, and name
// the source, the archive entry or the plugin they are about.
var (
	// ErrUnsafeArchive means an archive holds an entry that extraction
	// refuses: a path that is absolute or leaves the destination (..), a
	// symbolic or hard link, a device, a named pipe, a name that appears
	// twice, or more entries than the limit. Nothing is installed.
	ErrUnsafeArchive = errors.New("unsafe archive")
	// ErrTooLarge means a download, an archive, or a file in it, is larger
	// than its limit (see Limits), counting the bytes read, whatever its
	// headers say.
	ErrTooLarge = errors.New("too large")
	// ErrInsecureSource means a source that cannot be trusted as given: a
	// URL that is not https, or an https URL with neither a checksum nor a
	// signature to verify it with.
	ErrInsecureSource = errors.New("insecure source")
	// ErrChecksum means the source's SHA-256 is not the one given.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrSignature means the source's minisign signature does not verify
	// with the public key given, or cannot be read.
	ErrSignature = errors.New("signature not verified")
	// ErrNoPlugin means the source holds no file named nebula-plugin-NAME
	// (or not the one asked for).
	ErrNoPlugin = errors.New("no plugin binary")
)
