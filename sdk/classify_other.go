//go:build !unix

package sdk

// On systems without Unix error numbers, Classify relies on the io/fs
// sentinels and network errors alone.

func kindOfErrnoIn(error) (Kind, bool) { return "", false }

func isConnErrno(error) bool { return false }
