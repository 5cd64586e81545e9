resource "postgres" "db" {
  password = env("NEBULA_TEST_UNSET_PW", "hunter2-Kq9", "one too many")
}
