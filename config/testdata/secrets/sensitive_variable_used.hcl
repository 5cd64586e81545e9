variable "token" {
  type      = string
  sensitive = true
}

resource "postgres" "db" {
  password         = var.token
  statement_timeout = var.token
  port             = tonumber(var.token)
}
