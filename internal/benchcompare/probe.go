package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
)

// probe reports whether the backend's server answers, and prepares what
// its workloads need: for PostgreSQL, the table of the point selects,
// benchRows rows of (id, name), made if missing and left in place for the
// next run; for MongoDB, the collections of 100 and of 10,000 orders
// (mongo.go, mongoSizes), likewise.
func probe(ctx context.Context, backend string, b backends) error {
	switch backend {
	case "postgres":
		cfg, err := pgx.ParseConfig(b.Postgres)
		if err != nil {
			return errors.New("the PostgreSQL URL does not parse") // it may hold a password
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		// Idempotent, so that runs at the same time (or one interrupted)
		// leave the same table.
		_, err = conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO %[1]s SELECT i, 'row ' || i FROM generate_series(1, %[2]d) AS i ON CONFLICT (id) DO NOTHING`, benchTable, benchRows))
		if err != nil {
			return fmt.Errorf("prepare table %s: %w", benchTable, err)
		}
		return nil
	case "redis":
		rdb := goredis.NewClient(&goredis.Options{Addr: b.Redis, DialerRetries: 1, MaxRetries: -1})
		defer rdb.Close()
		return rdb.Ping(ctx).Err()
	case "kafka":
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(b.Kafka, ",")...))
		if err != nil {
			return err
		}
		defer cl.Close()
		return cl.Ping(ctx)
	case "s3":
		return probeS3(ctx, b.S3)
	case "mongo":
		return probeMongo(ctx, b.Mongo)
	}
	return fmt.Errorf("no probe for backend %q", backend)
}
