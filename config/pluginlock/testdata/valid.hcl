# This file is maintained by "nebula-host plugins install" and "nebula-host plugins upgrade".
# Commit it beside the configuration: run and validate refuse a plugin whose
# SHA-256 differs from the one recorded here.

plugin "memory" {
  version  = "0.2.0"
  protocol = 2
  source   = "/opt/nebula/dist/nebula-plugin-memory_0.2.0.tar.gz"
  sha256 = {
    darwin_arm64 = "1f1e7d5bd1ba2d1a1c4e0b4a35d4e0b4bb0e16b3c1a0f7d32b8c3a3e6a1f8c9d"
    linux_amd64  = "ce4c82ffc8b49943ff6e9fdcb1885be12465e3bc303a2da9360a487ea31c4047"
  }
}

plugin "postgres" {
  version  = "0.9.0"
  protocol = 2
  source   = "https://example.com/nebula-plugin-postgres_0.9.0_linux_amd64.tar.gz"
  sha256 = {
    linux_amd64 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
  }
}
