resource "postgres" "db" {
  password = "hunter2-Kq9"
  password = "hunter2-Kq9"
}
