# The orders example: one PostgreSQL database (scripts/testenv starts one
# on 127.0.0.1:5432).
#
#   POSTGRES_URL  the connection URL
#                 (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
#
# The program writes its tables into one schema (-schema, default
# shop), which it creates.

resource "postgres" "shop" {
  url              = env("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
  application_name = "nebula-orders-example"

  # A statement that waits longer fails with kind timeout instead of
  # holding its lease: a row lock that a transaction never gives back
  # shows up as an error, not as a program that hangs.
  statement_timeout = "10s"

  # postgres pools exclusively: a lease has one session to itself, so a
  # transaction begun on it spans the lease's calls until Commit or
  # Rollback. Releasing the lease with a transaction open rolls it back.
  pool {
    max_size = 4
  }
}
