resource "memory" "cache" {
  name = "first"
}

resource "memory" "cache" {
  name = "second"
}
