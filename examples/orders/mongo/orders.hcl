# The orders example in MongoDB (examples/orders/mongo): one database of
# a MongoDB server (or FerretDB, which scripts/testenv starts on
# 127.0.0.1:27017).
#
#   MONGO_URL        the connection string (default mongodb://127.0.0.1:27017/)
#   ORDERS_DATABASE  the database the example writes (default nebula_orders_example)

resource "mongo" "orders" {
  uri                      = env("MONGO_URL", "mongodb://127.0.0.1:27017/")
  database                 = env("ORDERS_DATABASE", "nebula_orders_example")
  server_selection_timeout = "5s"
  max_pool_size            = 10
}
