resource "memory" "cache" {
  name        = "cache"
  max_entries = var.cache_size
}

resource "localfs" "files" {
  root       = "/srv/files"
  depends_on = [resource.memory.cache]
}
