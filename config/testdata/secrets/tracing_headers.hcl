telemetry {
  tracing {
    endpoint = "no port here"
    headers = {
      Authorization = "Bearer hunter2-Kq9"
      "x-api-key"   = "hunter2-Kq9"
    }
  }
}
