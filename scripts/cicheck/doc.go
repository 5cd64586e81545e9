// Package cicheck holds the tests that keep the build honest. One keeps
// .github/workflows/ci.yml faithful to the Makefile and .ci/run: the
// workflow parses, runs on pushes and pull requests, takes Go from go.mod
// with module and build caching for every module, and runs exactly the make
// targets .ci/run runs. The other keeps a third-party plugin light: the
// example plugin in a module of its own requires the SDK module alone, and
// its go.sum stays within a budget of modules, without the OpenTelemetry
// SDK or an exporter unless it opts into sdk/otelexport. It is a module of
// its own so that its YAML parser stays out of the product's go.mod; make
// lint runs it.
package cicheck
