// Package kubernetes holds the test of the Kubernetes example (README.md):
// it runs nebula-host on the example's configuration, with its Secret's
// values laid out as the Deployment mounts them, against the PostgreSQL
// and Redis of scripts/testenv, and calls it as the kubelet, Prometheus
// and a worker do. The manifests themselves are checked by make
// deploy-check.
package kubernetes
