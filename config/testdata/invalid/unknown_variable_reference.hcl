variable "size" {
  type    = number
  default = 10
}

resource "memory" "cache" {
  name        = "cache"
  max_entries = var.sise
}

resource "localfs" "files" {
  root = "/srv/${resource.memory.cache}"
}
