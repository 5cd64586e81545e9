//go:build tools

// Package testenv pins the test servers that scripts/testenv builds from Go
// source because they have no Debian package. It is a module of its own so
// that the product's go.mod lists only what the product uses. Nothing here is
// compiled into the product: this file only records the dependencies, and
// scripts/testenv builds each server with, for example,
//
//	cd testenv && go build -o DIR/toxiproxy-server github.com/Shopify/toxiproxy/v2/cmd/server
//
// Servers without a main of their own get a small one here: cmd/kfake runs
// github.com/twmb/franz-go/pkg/kfake, a Kafka wire-protocol broker (its
// imports pin kfake and franz-go, so it needs no line below), and
// cmd/ferretdb runs FerretDB's embeddable package
// (github.com/FerretDB/FerretDB/ferretdb, a MongoDB wire-protocol server on
// SQLite; FerretDB's own command panics without a version file that the
// module does not ship). cmd/objcheck checks the object-storage servers with
// the official S3, GCS and Azure Blob clients, and cmd/mongocheck checks the
// MongoDB server with go.mongodb.org/mongo-driver/v2; their imports pin
// those versions.
package testenv

import (
	// toxiproxy: the fault-injection proxy used by faults.
	_ "github.com/Shopify/toxiproxy/v2/cmd/server"
	// fake-gcs-server: the GCS emulator (JSON and XML APIs) for the blob
	// drivers' tests.
	_ "github.com/fsouza/fake-gcs-server"
	// versitygw: an S3 gateway over a POSIX folder, with real SigV4, for
	// the blob drivers' tests.
	_ "github.com/versity/versitygw/cmd/versitygw"
)
