resource "postgres" "db" {
  host     = "127.0.0.1
  password = "hunter2-Kq9"
  user     = "postgres"
}
