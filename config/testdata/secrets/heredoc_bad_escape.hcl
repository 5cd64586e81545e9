resource "postgres" "db" {
  host     = "127.0.0.1"
  password = <<EOT
hunter2-Kq9 ${
EOT
}
