resource "localfs" "files" {
  root = env("NEBULA_TEST_UNSET")
}
