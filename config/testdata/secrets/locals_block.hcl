locals {
  db_password = "hunter2-Kq9"
  dsn         = "postgres://app:hunter2-Kq9@127.0.0.1/app"
}
