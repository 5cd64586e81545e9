// Package api is the admin API of a nebula-resource host: the request and
// response types of its HTTP endpoint, which the host itself encodes and
// decodes (so the server and this package cannot drift apart), and a Go
// client for it.
package api
