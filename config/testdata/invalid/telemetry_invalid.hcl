telemetry {
  metrics {
    enabled = "yes please"
  }
  tracing {
    endpoint     = "collector"
    sample_ratio = 2
  }
}
