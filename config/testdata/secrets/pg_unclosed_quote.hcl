resource "postgres" "db" {
  url = "postgres://postgres:hunter2-Kq9@127.0.0.1:5432/test
}
