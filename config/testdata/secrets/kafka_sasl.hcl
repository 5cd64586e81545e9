resource "kafka" "events" {
  brokers        = "127.0.0.1:9092"
  sasl_password  = "hunter2-Kq9"
}
