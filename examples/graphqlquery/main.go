// Command graphqlquery calls a GraphQL API through a host embedded in
// the program: a query whose answer is partial (data and an error with
// its path), a mutation, and a subscription whose events it reads one
// line at a time through Lease.OpenReader.
//
// With no -url it starts a stand-in server of its own (standin.go: a
// fixed-answer endpoint, not a GraphQL implementation), so that it runs
// anywhere. Run it from the repository root, after make build (or
// go build -o bin/plugins/nebula-plugin-graphql ./plugins/graphql/cmd/nebula-plugin-graphql):
//
//	go run ./examples/graphqlquery
//
// The operations and results are those of docs/graphql.md.
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
	"os"
	"os/signal"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
)

func main() {
	configPath := flag.String("config", "examples/graphqlquery/graphqlquery.hcl", "configuration with one graphql resource")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	url := flag.String("url", "", "the GraphQL endpoint; empty starts the stand-in server")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := runWith(ctx, *configPath, *pluginDir, *url, os.Stdout); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "graphqlquery: %v\n", err)
		}
		os.Exit(1)
	}
}

// runWith runs the program against url, or against a stand-in server
// it starts when url is "".
func runWith(ctx context.Context, configPath, pluginDir, url string, out io.Writer) error {
	if url == "" {
		s, err := startStandIn()
		if err != nil {
			return err
		}
		defer s.Close()
		url = s.URL()
	}
	// The configuration reads the endpoint with env("GRAPHQL_URL", ...).
	if err := os.Setenv("GRAPHQL_URL", url); err != nil {
		return err
	}
	return run(ctx, configPath, pluginDir, out)
}

func run(ctx context.Context, configPath, pluginDir string, out io.Writer) error {
	cfg, diags := config.Load(configPath)
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	if len(cfg.Resources) != 1 || cfg.Resources[0].Type != "graphql" {
		return fmt.Errorf("%s must declare one graphql resource", configPath)
	}
	resource := "graphql." + cfg.Resources[0].Name

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
			fmt.Fprintln(os.Stderr, "graphqlquery: close:", err)
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	lease, err := h.Acquire(ctx, resource, host.ForWorkflow("graphqlquery-example"))
	if err != nil {
		return err
	}
	defer lease.Release()

	if err := products(ctx, lease, out); err != nil {
		return err
	}
	if err := addToCart(ctx, lease, out); err != nil {
		return err
	}
	return prices(ctx, lease, out)
}

// products runs a query whose answer is partial: the data it has, and
// an error whose path says which field is missing.
func products(ctx context.Context, lease *host.Lease, out io.Writer) error {
	raw, err := lease.Invoke(ctx, "query", map[string]any{
		"query": "query Products { products { sku name stock } }",
	})
	if err != nil {
		return err
	}
	var res struct {
		Data struct {
			Products []struct {
				SKU   string `json:"sku"`
				Name  string `json:"name"`
				Stock *int   `json:"stock"`
			} `json:"products"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
			Path    []any  `json:"path"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	fmt.Fprintln(out, "products:")
	for _, p := range res.Data.Products {
		stock := "?"
		if p.Stock != nil {
			stock = fmt.Sprint(*p.Stock)
		}
		fmt.Fprintf(out, "  %s  %-8s stock %s\n", p.SKU, p.Name, stock)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(out, "  partial: %s at %v\n", e.Message, e.Path)
	}
	return nil
}

// addToCart runs a mutation twice. It is not idempotent (each call adds
// one), so the call does not set "idempotent": the host never retries it.
func addToCart(ctx context.Context, lease *host.Lease, out io.Writer) error {
	for range 2 {
		raw, err := lease.Invoke(ctx, "mutate", map[string]any{
			"query":     "mutation AddToCart($sku: String!) { addToCart(sku: $sku) { sku quantity } }",
			"variables": map[string]any{"sku": "A-1"},
		})
		if err != nil {
			return err
		}
		var res struct {
			Data struct {
				AddToCart struct {
					SKU      string `json:"sku"`
					Quantity int    `json:"quantity"`
				} `json:"addToCart"`
			} `json:"data"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return err
		}
		fmt.Fprintf(out, "cart: %s x %d\n", res.Data.AddToCart.SKU, res.Data.AddToCart.Quantity)
	}
	return nil
}

// prices subscribes to a product's price changes and prints each event
// as it arrives: one line of JSON per event, read through OpenReader.
func prices(ctx context.Context, lease *host.Lease, out io.Writer) error {
	r, err := lease.OpenReader(ctx, "subscribe", map[string]any{
		"query":     "subscription Prices($sku: String!) { priceChanged(sku: $sku) { sku cents seq } }",
		"variables": map[string]any{"sku": "A-1"},
	})
	if err != nil {
		return err
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var ev struct {
			Data struct {
				PriceChanged struct {
					SKU   string `json:"sku"`
					Cents int    `json:"cents"`
					Seq   int    `json:"seq"`
				} `json:"priceChanged"`
			} `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return err
		}
		p := ev.Data.PriceChanged
		fmt.Fprintf(out, "price %d: %s $%d.%02d\n", p.Seq, p.SKU, p.Cents/100, p.Cents%100)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Fprintf(out, "subscription: %s\n", r.Result())
	return nil
}
