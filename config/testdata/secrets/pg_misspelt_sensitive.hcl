resource "postgres" "db" {
  host    = "127.0.0.1"
  pasword = "hunter2-Kq9"
}
