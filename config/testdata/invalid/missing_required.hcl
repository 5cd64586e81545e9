resource "memory" "cache" {
  max_entries = 100
}

resource "localfs" "files" {
}
