resource "memory" "replica" {
  name = "${resource.memory.primary.name}-replica"
}

resource "memory" "primary" {
  name       = "primary"
  depends_on = [resource.memory.replica]
}
