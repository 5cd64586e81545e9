// Command wsfeed reads a WebSocket push feed through a host embedded in
// the program, and shows what a session does when its server drops it:
// the session reconnects by itself, and receive reports each reconnection
// as an event in the stream, so that the program can tell which messages
// it missed from its own sequence numbers.
//
// The program starts its own feed on 127.0.0.1: 50 ticks numbered by a
// counter, sent as fast as the connection takes them; the feed closes
// every connection after 20 ticks and publishes 2 more while its
// subscriber is away, which the subscriber never sees. Run it from the
// repository root, after make build (or after building
// bin/plugins/nebula-plugin-websocket):
//
//	go run ./examples/wsfeed
//
// With -serve=false it reads the server that WSFEED_URL names instead.
// With -listen it only serves, without a host, until interrupted: the
// feed at /ticks and an echo server at /echo, for trying the plugin with
// nebula-host (docs/websocket.md):
//
//	go run ./examples/wsfeed -listen 127.0.0.1:8765
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	ws "github.com/coder/websocket"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
)

func main() {
	configPath := flag.String("config", "examples/wsfeed/wsfeed.hcl", "configuration with one websocket resource")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	serve := flag.Bool("serve", true, "start the example's own feed and point WSFEED_URL at it")
	listen := flag.String("listen", "", "only serve the feed (/ticks) and an echo server (/echo) at this address, until interrupted")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *listen != "" {
		url, stopFeed, err := startFeed(*listen)
		if err != nil {
			fmt.Fprintf(os.Stderr, "wsfeed: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("serving %s and %s\n", url, strings.TrimSuffix(url, "/ticks")+"/echo")
		<-ctx.Done()
		stopFeed()
		return
	}
	if err := run(ctx, *configPath, *pluginDir, *serve, os.Stdout); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "wsfeed: %v\n", err)
		}
		os.Exit(1)
	}
}

// The feed's shape.
const (
	total   = 50 // ticks published
	perConn = 20 // ticks sent on a connection before the feed closes it
	skip    = 2  // ticks published while the subscriber is away
)

func run(ctx context.Context, configPath, pluginDir string, serve bool, out io.Writer) error {
	if serve {
		url, stop, err := startFeed("127.0.0.1:0")
		if err != nil {
			return err
		}
		defer stop()
		if err := os.Setenv("WSFEED_URL", url); err != nil {
			return err
		}
	}
	cfg, diags := config.Load(configPath)
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	if len(cfg.Resources) != 1 || cfg.Resources[0].Type != "websocket" {
		return fmt.Errorf("%s must declare one websocket resource", configPath)
	}
	resource := "websocket." + cfg.Resources[0].Name

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := host.New(cfg, host.WithLogger(log), host.WithPluginDir(pluginDir))
	if err != nil {
		return err
	}
	if err := h.Start(ctx); err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.Host.ShutdownTimeout)
		defer cancel()
		if err := h.Close(cctx); err != nil {
			fmt.Fprintln(os.Stderr, "wsfeed: close:", err)
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return host.Use(ctx, h, resource, func(l *host.Lease) error {
		// receive streams one JSON line per message or event; it ends
		// when nothing has arrived for a second.
		r, err := l.OpenReader(ctx, "receive", map[string]any{"idle_timeout": "1s"})
		if err != nil {
			return err
		}
		defer r.Close()
		return report(r, out)
	}, host.ForWorkflow("wsfeed-example"))
}

// line is one line of receive.
type line struct {
	Type           string  `json:"type"`
	Text           *string `json:"text"`
	Attempts       int     `json:"attempts"`
	ReceivedBefore int     `json:"received_before"`
	Reason         string  `json:"reason"`
}

// report reads receive's lines and prints the runs of ticks received,
// each reconnection, and the ticks missed in its gap.
func report(r io.Reader, out io.Writer) error {
	var received, missed, gaps, reconnects int
	first, last := -1, -1 // the run of ticks being received
	reconnected := false
	flush := func() {
		if first >= 0 {
			fmt.Fprintf(out, "received ticks %d-%d\n", first, last)
		}
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		switch l.Type {
		case "message":
			var t struct {
				Seq int `json:"seq"`
			}
			if l.Text == nil || json.Unmarshal([]byte(*l.Text), &t) != nil {
				return fmt.Errorf("not a tick: %s", sc.Text())
			}
			if t.Seq != last+1 {
				// The gap sits where the event was: the ticks between the
				// last before it and the first after it never arrived.
				if reconnected {
					fmt.Fprintf(out, "  missed ticks %d-%d while reconnecting\n", last+1, t.Seq-1)
				} else {
					fmt.Fprintf(out, "  missed ticks %d-%d\n", last+1, t.Seq-1)
				}
				missed += t.Seq - last - 1
				gaps++
				first = t.Seq
			} else if first < 0 {
				first = t.Seq
			}
			reconnected = false
			last = t.Seq
			received++
		case "reconnected":
			flush()
			first = -1
			reconnects++
			reconnected = true
			fmt.Fprintf(out, "reconnected after %d attempt(s), %d received before the drop (%s)\n", l.Attempts, l.ReceivedBefore, l.Reason)
		case "dropped":
			flush()
			first = -1
			fmt.Fprintln(out, "the buffer was full: the oldest ticks were dropped")
		default:
			fmt.Fprintf(out, "event %s\n", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	flush()
	fmt.Fprintf(out, "%d received, %d missed in %d gap(s), %d reconnect(s)\n", received, missed, gaps, reconnects)
	return nil
}

// startFeed starts the example's feed at addr (/ticks, and an echo
// server at /echo), and returns the feed's URL and the function that
// stops both.
func startFeed(addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &feed{}
	var wg sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted while Serve runs, so that stop waits for the handlers
		// of hijacked connections too, which Close does not.
		wg.Add(1)
		defer wg.Done()
		c, err := ws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if r.URL.Path == "/echo" {
			echo(ctx, c)
			return
		}
		f.serve(ctx, c)
	}), ReadHeaderTimeout: 5 * time.Second}
	wg.Go(func() { _ = srv.Serve(ln) })
	stop := func() {
		cancel()
		_ = srv.Close()
		wg.Wait()
	}
	return "ws://" + ln.Addr().String() + "/ticks", stop, nil
}

// echo sends every message back as it came.
func echo(ctx context.Context, c *ws.Conn) {
	for {
		typ, data, err := c.Read(ctx)
		if err != nil || c.Write(ctx, typ, data) != nil {
			return
		}
	}
}

// feed numbers ticks with one counter for every connection.
type feed struct {
	mu   sync.Mutex // guards next
	next int
}

// serve sends c ticks until perConn have gone on it, then closes it
// (status 1001, going away) and counts skip ticks as published while no
// one listens; after total ticks it keeps c open and quiet.
func (f *feed) serve(ctx context.Context, c *ws.Conn) {
	ctx = c.CloseRead(ctx) // answers the session's pings
	for range perConn {
		f.mu.Lock()
		seq := f.next
		if seq >= total {
			f.mu.Unlock()
			<-ctx.Done()
			return
		}
		f.next++
		f.mu.Unlock()
		if err := c.Write(ctx, ws.MessageText, fmt.Appendf(nil, `{"seq":%d,"price":%d}`, seq, 1000+seq%7)); err != nil {
			return
		}
	}
	f.mu.Lock()
	f.next = min(f.next+skip, total)
	f.mu.Unlock()
	_ = c.Close(ws.StatusGoingAway, "rotating")
}
