plugin "memory" {
  path   = "./bin/nebula-plugin-memory"
  sha256 = "abc123"
}
