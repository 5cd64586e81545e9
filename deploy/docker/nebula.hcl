# The image's own configuration, at /etc/nebula/nebula.hcl: enough to
# start and to answer the health check. Mount a directory of your .hcl
# files over /etc/nebula to replace it (deploy/README.md).

admin {
  # Loopback: reachable from inside the container only, as the health
  # check needs. To publish it, listen on 0.0.0.0 with allow_remote and an
  # identity (deploy/compose/config/nebula.hcl).
  address = "127.0.0.1:9464"
}

host {
  log_format = "json"
}

resource "memory" "cache" {
  max_entries = 10000
}
