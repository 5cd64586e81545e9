// Command orders places orders in PostgreSQL through a host embedded in
// the program, each order in one transaction on one lease: the order, its
// lines and the stock they take are written together, or not at all.
//
// The postgres resource pools exclusively, so a lease holds one database
// session, and a transaction begun with Lease.Begin spans the lease's
// calls until Lease.Commit or Lease.Rollback. The program
//
//  1. creates its tables and stock in one transaction (host.WithTx);
//  2. places ada's order, which commits;
//  3. places bob's order, whose second line wants more than the stock: the
//     program rolls the transaction back, and the order row and the stock
//     its first line took are gone with it;
//  4. begins cy's order and releases the lease without committing, as a
//     worker that stops half-way: the host rolls the transaction back
//     before the session serves anyone else;
//  5. places dan's order of the product cy's transaction had locked, which
//     commits only because that lock is gone;
//  6. prints the orders and the stock the database holds.
//
// Run it from the repository root, after make build, against the
// PostgreSQL that POSTGRES_URL names, by default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
// (scripts/testenv up starts one there):
//
//	go run ./examples/orders
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"time"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func main() {
	configPath := flag.String("config", "examples/orders/orders.hcl", "configuration with one postgres resource")
	pluginDir := flag.String("plugin-dir", "bin/plugins", "where to find nebula-plugin-<type> binaries")
	schema := flag.String("schema", "shop", "the schema that holds the example's tables; created if missing, its tables replaced")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *configPath, *pluginDir, *schema, os.Stdout); err != nil {
		var de *host.DiagnosticsError
		if errors.As(err, &de) {
			_ = config.WriteDiagnostics(os.Stderr, de.Files, de.Diagnostics, false)
		} else {
			fmt.Fprintf(os.Stderr, "orders: %v\n", err)
		}
		os.Exit(1)
	}
}

// Line is a line of an order: a product and how many of it.
type Line struct {
	SKU string
	Qty int
}

func (l Line) String() string { return fmt.Sprintf("%d x %s", l.Qty, l.SKU) }

// OutOfStockError is why an order fails: a line wants more than the
// stock.
type OutOfStockError struct {
	SKU           string
	Wanted, Stock int
}

func (e *OutOfStockError) Error() string {
	return fmt.Sprintf("%s: %d wanted, %d in stock", e.SKU, e.Wanted, e.Stock)
}

// schemaName is what -schema accepts: a plain lower-case SQL identifier,
// which the statements name unquoted.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// shop places orders in the tables of one schema of the resource.
type shop struct {
	h        *host.Host
	resource string // "postgres.shop"
	schema   string
}

// sql returns stmt for the shop's schema: the statements name their
// tables in the schema "shop" (shop.orders), which -schema changes.
func (s *shop) sql(stmt string) string { return strings.ReplaceAll(stmt, "shop.", s.schema+".") }

func run(ctx context.Context, configPath, pluginDir, schema string, out io.Writer) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("-schema %q: want lower-case letters, digits and _, not starting with a digit", schema)
	}
	cfg, diags := config.Load(configPath)
	if diags.HasErrors() {
		return &host.DiagnosticsError{Diagnostics: diags, Files: cfg.Files}
	}
	if len(cfg.Resources) != 1 || cfg.Resources[0].Type != "postgres" {
		return fmt.Errorf("%s must declare one postgres resource", configPath)
	}

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
			fmt.Fprintln(os.Stderr, "orders: close:", err)
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s := &shop{h: h, resource: cfg.Resources[0].ID(), schema: schema}

	if err := s.setUp(ctx); err != nil {
		return fmt.Errorf("creating the tables in schema %s: %w", schema, err)
	}
	if err := s.printStock(ctx, out); err != nil {
		return err
	}

	// ada's order commits.
	ada := []Line{{"A-1", 2}, {"C-3", 1}}
	total, err := s.place(ctx, "ada", ada)
	if err != nil {
		return fmt.Errorf("ada's order: %w", err)
	}
	fmt.Fprintf(out, "ada orders %s: committed, %s\n", lines(ada), dollars(total))

	// bob's order fails at its second line, after its first took stock:
	// the rollback undoes both.
	bob := []Line{{"A-1", 1}, {"B-7", 3}}
	_, err = s.place(ctx, "bob", bob)
	var oos *OutOfStockError
	if !errors.As(err, &oos) {
		return fmt.Errorf("bob's order: want an out-of-stock error, got %v", err)
	}
	fmt.Fprintf(out, "bob orders %s: rolled back, %v\n", lines(bob), err)
	if err := s.printLeft(ctx, "bob", out); err != nil {
		return err
	}

	// cy's worker stops half-way: the lease ends with the transaction
	// open, and the host rolls it back.
	cy := []Line{{"C-3", 1}}
	if err := s.abandon(ctx, "cy", cy); err != nil {
		return fmt.Errorf("cy's order: %w", err)
	}
	fmt.Fprintf(out, "cy orders %s and stops before the commit: the host rolls the transaction back when the lease is released\n", lines(cy))
	if err := s.printLeft(ctx, "cy", out); err != nil {
		return err
	}

	// dan's order updates the row cy's transaction had updated, which
	// waits for that transaction's lock (at most statement_timeout).
	dan := []Line{{"C-3", 1}}
	total, err = s.place(ctx, "dan", dan)
	if err != nil {
		return fmt.Errorf("dan's order: %w", err)
	}
	fmt.Fprintf(out, "dan orders %s: committed, %s\n", lines(dan), dollars(total))

	if err := s.printOrders(ctx, out); err != nil {
		return err
	}
	return s.printStock(ctx, out)
}

// setUp replaces the example's tables and stock, in one transaction:
// PostgreSQL's DDL is transactional, so a failure leaves the schema as it
// was. host.WithTx acquires a lease, begins, runs the function, and
// commits, or rolls back when the function fails.
func (s *shop) setUp(ctx context.Context) error {
	return host.WithTx(ctx, s.h, s.resource, sdk.TxOptions{}, func(l *host.Lease) error {
		// Without arguments, Exec sends the statements in one round trip.
		_, err := l.Exec(ctx, s.sql(`
CREATE SCHEMA IF NOT EXISTS `+s.schema+`;
DROP TABLE IF EXISTS shop.order_lines, shop.orders, shop.products;
CREATE TABLE shop.products (
	sku         text PRIMARY KEY,
	price_cents bigint NOT NULL,
	stock       int NOT NULL CHECK (stock >= 0)
);
CREATE TABLE shop.orders (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer    text NOT NULL,
	total_cents bigint NOT NULL DEFAULT 0
);
CREATE TABLE shop.order_lines (
	order_id    bigint NOT NULL REFERENCES shop.orders,
	sku         text NOT NULL REFERENCES shop.products,
	qty         int NOT NULL CHECK (qty > 0),
	price_cents bigint NOT NULL,
	PRIMARY KEY (order_id, sku)
);
INSERT INTO shop.products VALUES ('A-1', 1999, 5), ('B-7', 500, 2), ('C-3', 4500, 10);`))
		return err
	}, host.ForWorkflow("orders-example"), host.ForStep("set-up"))
}

// place places an order in one transaction on one lease, and returns its
// total in cents. Any error rolls the transaction back: nothing of the
// order remains.
func (s *shop) place(ctx context.Context, customer string, order []Line) (total int64, err error) {
	lease, err := s.h.Acquire(ctx, s.resource, host.ForWorkflow("orders-example"), host.ForStep("place-"+customer))
	if err != nil {
		return 0, err
	}
	defer lease.Release()

	if err := lease.Begin(ctx, sdk.TxOptions{}); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			// WithoutCancel: roll back even when ctx is why the order
			// failed. (Releasing the lease would roll back too.)
			if rerr := lease.Rollback(context.WithoutCancel(ctx)); rerr != nil {
				err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
			}
		}
	}()
	total, err = s.write(ctx, lease, customer, order)
	if err != nil {
		return 0, err
	}
	if err := lease.Commit(ctx); err != nil {
		return 0, err
	}
	return total, nil
}

// abandon begins an order as place does, writes it, and releases the
// lease without a commit or a rollback.
func (s *shop) abandon(ctx context.Context, customer string, order []Line) error {
	lease, err := s.h.Acquire(ctx, s.resource, host.ForWorkflow("orders-example"), host.ForStep("abandon-"+customer))
	if err != nil {
		return err
	}
	defer lease.Release()
	if err := lease.Begin(ctx, sdk.TxOptions{}); err != nil {
		return err
	}
	_, err = s.write(ctx, lease, customer, order)
	return err
}

// write writes the order, its lines and the stock they take, on lease,
// inside its transaction.
func (s *shop) write(ctx context.Context, lease *host.Lease, customer string, order []Line) (int64, error) {
	var id int64
	if _, err := queryRow(ctx, lease, []any{&id}, s.sql(`INSERT INTO shop.orders (customer) VALUES ($1) RETURNING id`), customer); err != nil {
		return 0, err
	}
	var total int64
	for _, line := range order {
		// Takes the stock only if there is enough; the row stays locked
		// until the transaction ends.
		var price int64
		ok, err := queryRow(ctx, lease, []any{&price},
			s.sql(`UPDATE shop.products SET stock = stock - $2 WHERE sku = $1 AND stock >= $2 RETURNING price_cents`), line.SKU, line.Qty)
		if err != nil {
			return 0, err
		}
		if !ok {
			var stock int
			if _, err := queryRow(ctx, lease, []any{&stock}, s.sql(`SELECT stock FROM shop.products WHERE sku = $1`), line.SKU); err != nil {
				return 0, err
			}
			return 0, &OutOfStockError{SKU: line.SKU, Wanted: line.Qty, Stock: stock}
		}
		if _, err := lease.Exec(ctx, s.sql(`INSERT INTO shop.order_lines (order_id, sku, qty, price_cents) VALUES ($1, $2, $3, $4)`),
			id, line.SKU, line.Qty, price); err != nil {
			return 0, err
		}
		total += price * int64(line.Qty)
	}
	if _, err := lease.Exec(ctx, s.sql(`UPDATE shop.orders SET total_cents = $2 WHERE id = $1`), id, total); err != nil {
		return 0, err
	}
	return total, nil
}

// printOrders prints the orders the database holds, in the order they
// were placed.
func (s *shop) printOrders(ctx context.Context, out io.Writer) error {
	return host.Use(ctx, s.h, s.resource, func(l *host.Lease) error {
		rows, err := l.Query(ctx, s.sql(`
SELECT o.customer, o.total_cents, count(*)
FROM shop.orders o JOIN shop.order_lines l ON l.order_id = o.id
GROUP BY o.id ORDER BY o.id`))
		if err != nil {
			return err
		}
		defer rows.Close()
		fmt.Fprintln(out, "orders in the database:")
		for rows.Next() {
			var customer string
			var total, n int64
			if err := rows.Scan(&customer, &total, &n); err != nil {
				return err
			}
			fmt.Fprintf(out, "  %-4s %d line(s) %8s\n", customer, n, dollars(total))
		}
		return rows.Err()
	}, host.ForWorkflow("orders-example"), host.ForStep("list"))
}

// printLeft prints what the database holds of the customer's orders,
// and the stock, as a new lease reads them.
func (s *shop) printLeft(ctx context.Context, customer string, out io.Writer) error {
	return host.Use(ctx, s.h, s.resource, func(l *host.Lease) error {
		var orders, nLines int64
		if _, err := queryRow(ctx, l, []any{&orders, &nLines}, s.sql(`
SELECT count(DISTINCT o.id), count(l.order_id)
FROM shop.orders o LEFT JOIN shop.order_lines l ON l.order_id = o.id
WHERE o.customer = $1`), customer); err != nil {
			return err
		}
		stock, err := s.stock(ctx, l)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  left in the database: %d orders of %s, %d order lines; stock: %s\n", orders, customer, nLines, stock)
		return nil
	}, host.ForWorkflow("orders-example"), host.ForStep("left-"+customer))
}

// printStock prints the stock of each product.
func (s *shop) printStock(ctx context.Context, out io.Writer) error {
	return host.Use(ctx, s.h, s.resource, func(l *host.Lease) error {
		stock, err := s.stock(ctx, l)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "stock: %s\n", stock)
		return nil
	}, host.ForWorkflow("orders-example"), host.ForStep("stock"))
}

// stock returns the stock of each product, as "A-1 5, B-7 2".
func (s *shop) stock(ctx context.Context, l *host.Lease) (string, error) {
	rows, err := l.Query(ctx, s.sql(`SELECT sku, stock FROM shop.products ORDER BY sku`))
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var stock []string
	for rows.Next() {
		var sku string
		var n int
		if err := rows.Scan(&sku, &n); err != nil {
			return "", err
		}
		stock = append(stock, fmt.Sprintf("%s %d", sku, n))
	}
	return strings.Join(stock, ", "), rows.Err()
}

// queryRow runs a query that returns at most one row and scans it into
// dest; it reports whether there was a row.
func queryRow(ctx context.Context, lease *host.Lease, dest []any, query string, args ...any) (bool, error) {
	rows, err := lease.Query(ctx, query, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := rows.Scan(dest...); err != nil {
		return false, err
	}
	return true, nil
}

// lines formats an order's lines.
func lines(order []Line) string {
	s := make([]string, len(order))
	for i, l := range order {
		s[i] = l.String()
	}
	return strings.Join(s, ", ")
}

// dollars formats cents.
func dollars(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }
