resource "memory" "cache" {
  name = "cache"
}

resource "localfs" "files" {
  root       = "/srv/files"
  depends_on = [resource.memory.cahce]
}
