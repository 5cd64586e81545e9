resource "postgres" "db" {
  password = hunter2Kq9
}
