resource "memory" "cache" {
  name     = "cache"
  password = "not-a-real-password"
}

resource "memory" "copy" {
  name     = "copy"
  password = resource.memory.cache.password
}
