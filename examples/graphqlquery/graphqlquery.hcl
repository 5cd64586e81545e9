# The graphqlquery example: one GraphQL API.
#
#   GRAPHQL_URL  the endpoint (the program sets it to its stand-in
#                server's unless -url names another)

resource "graphql" "catalog" {
  base_url      = env("GRAPHQL_URL", "http://127.0.0.1:8080/graphql")
  ack_timeout   = "5s"
  ping_interval = "15s"
}
