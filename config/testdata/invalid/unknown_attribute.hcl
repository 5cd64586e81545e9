admin {
  adress = "127.0.0.1:9464"
}
