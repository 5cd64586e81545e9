resource "memory" "a" {
  name       = "a"
  depends_on = [resource.memory.b]
}

resource "memory" "b" {
  name       = "b"
  depends_on = [resource.memory.c]
}

resource "memory" "c" {
  name       = "c"
  depends_on = [resource.memory.a]
}
