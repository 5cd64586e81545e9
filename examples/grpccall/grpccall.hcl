# The grpccall example: one gRPC server, whose API the grpc plugin learns
# through server reflection. The program starts the server itself and
# sets var.target to its address.

variable "target" {
  type        = string
  description = "The gRPC server, host:port."
}

resource "grpc" "demo" {
  target = var.target
  # Sent with every call; the demo server appends it to Echo's text.
  metadata = { "x-tenant" = "acme" }

  health {
    interval = "1s"
  }
}
