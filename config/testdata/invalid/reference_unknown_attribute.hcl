resource "memory" "cache" {
  name        = "cache"
  max_entries = 100
}

resource "memory" "copy" {
  name        = "copy"
  max_entries = resource.memory.cache.max_entrie * 2
}
