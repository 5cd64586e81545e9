resource "postgres" "db" {
  password = [
    "hunter2-Kq9",
  ]
}
