# The rotation example: an HTTP API whose bearer token comes from a
# credential file that the program rewrites while workers call the API.
# The program starts the API itself on a free loopback port and writes the
# credential file into a temporary directory; it passes both in:
#
#   ROTATION_API_URL          the API's base URL
#   ROTATION_CREDENTIAL_FILE  the credential file, {"token": "..."}

credential "api" {
  source = "file"
  path   = env("ROTATION_CREDENTIAL_FILE", "/run/secrets/api.json")
  # Checked for a change every poll_interval (default 250ms): a rename
  # over it, a rewrite, a Kubernetes secret volume's symlink swap.
  poll_interval = "100ms"
}

resource "http" "api" {
  base_url     = env("ROTATION_API_URL", "http://127.0.0.1:8080/v1")
  bearer_token = credential.api.token

  # When the token changes, the host opens the resource anew with the new
  # token beside the old one, sends new calls to the new one, and lets the
  # old one serve the calls under way for at most drain_timeout before it
  # closes. The old token may be revoked once that has passed.
  pool {
    drain_timeout = "2s"
  }
}
