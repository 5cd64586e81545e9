resource "postgres" "db" {
  password = "hunter2-Kq9"
  usr      = "postgres"
  url      = "postgres://postgres:hunter2-Kq9@127.0.0.1:5432/test"
}
