// Package cicheck holds the test that keeps .github/workflows/ci.yml
// faithful to the Makefile and .ci/run: the workflow parses, runs on pushes
// and pull requests, takes Go from go.mod with module and build caching for
// every module, and runs exactly the make targets .ci/run runs. It is a
// module of its own so that its YAML parser stays out of the product's
// go.mod; make lint runs it.
package cicheck
