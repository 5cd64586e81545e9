plugin "postgres" {
  path   = "./nebula-plugin-postgres"
  sha256 = "not a checksum"
  env = {
    PGPASSWORD  = "hunter2-Kq9"
    DB_PASSWROD = "hunter2-Kq9"
    PGPASS      = "hunter2-Kq9"
  }
}
