plugin "memory" {
  path = "./bin/nebula-plugin-memory"
}

plugin "memory" {
  path = "./bin/nebula-plugin-memory-v2"
}
