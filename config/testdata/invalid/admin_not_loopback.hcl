admin {
  address = "0.0.0.0:9464"
}
