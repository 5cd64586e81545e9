// Command ferretdb runs a MongoDB wire-protocol server for the integration
// tests: FerretDB v1 (github.com/FerretDB/FerretDB/ferretdb, its embeddable
// package) with its SQLite backend, one SQLite file per database in
// -data-dir. FerretDB's own command is not used: built from the module
// proxy's copy it has no build/version/version.txt and panics at start,
// while the embeddable package does not need that file.
//
// CRUD, indexes (unique ones too) and aggregation work; transactions,
// change streams and authentication do not (FerretDB v1 with SQLite has
// none of them).
//
// scripts/testenv builds it into $TESTENV_DIR/bin/ferretdb and runs it as
//
//	ferretdb -listen 127.0.0.1:27017 -data-dir $TESTENV_DIR/ferretdb/data
//
// It stops on SIGTERM or SIGINT: it closes its listener, gives connected
// clients a few seconds to finish, and closes the SQLite databases.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/build/version"
	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	var (
		listen   = flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (host:port; port 0: any free port)")
		dataDir  = flag.String("data-dir", "", "folder of the SQLite databases, made if missing (required)")
		logLevel = flag.String("log-level", "warn", "error, warn, info or debug (to stderr)")
	)
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: ferretdb -data-dir DIR [-listen HOST:PORT] [-log-level LEVEL]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 || *dataDir == "" {
		flag.Usage()
		os.Exit(2)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: -log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}

	// FerretDB wants a file: URI of an existing folder, ending in a slash.
	dir, err := filepath.Abs(*dataDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb: -data-dir:", err)
		os.Exit(1)
	}
	sqliteURL := (&url.URL{Scheme: "file", Path: strings.TrimSuffix(dir, "/") + "/", OmitHost: true}).String()

	// Embedded, FerretDB reports its version as "unknown" (buildInfo,
	// serverStatus); report the one that testenv/go.mod pins instead.
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/FerretDB/FerretDB" {
				version.Get().Version = m.Version
			}
		}
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}

	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		// Run returns when ctx is canceled and the listener, the
		// connections and the SQLite databases are closed.
		if err := f.Run(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "ferretdb:", err)
		}
		close(done)
	}()
	// New has bound the listener already: connections wait in its backlog
	// until Run accepts them.
	fmt.Fprintf(os.Stderr, "ferretdb: listening on %s (SQLite in %s, pid %d)\n", *listen, dir, os.Getpid())

	select {
	case s := <-sigs:
		fmt.Fprintf(os.Stderr, "ferretdb: %v, shutting down\n", s)
	case <-done: // it should not stop by itself
		fmt.Fprintln(os.Stderr, "ferretdb: stopped unexpectedly")
		os.Exit(1)
	}
	cancel()
	select {
	case <-done:
		fmt.Fprintln(os.Stderr, "ferretdb: stopped")
	case <-sigs: // a second signal: do not wait for the connections
		os.Exit(1)
	case <-time.After(20 * time.Second):
		fmt.Fprintln(os.Stderr, "ferretdb: shutdown took too long")
		os.Exit(1)
	}
}
