resource "memory" "cache" {
  name        = "cache"
  max_entries = 10
}

resource "memory" "copy" {
  name = "copy"

  pool {
    max_size = resource.memory.cache.max_entries
  }
}
