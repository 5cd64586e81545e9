admin {
  address      = "0.0.0.0:9464"
  allow_remote = true
}
