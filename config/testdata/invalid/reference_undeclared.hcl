resource "memory" "cache" {
  name        = "cache"
  max_entries = resource.memory.cache.default_ttl
}

resource "localfs" "files" {
  root = "/srv/${resource.memory.cahce.name}"
}
