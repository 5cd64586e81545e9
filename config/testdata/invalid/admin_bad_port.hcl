admin {
  address = "localhost:notaport"
}

telemetry {
  tracing {
    endpoint = "collector.example:99999"
  }
}
