# The tenants example: two teams share one host. Each reaches only the
# resources its tenant block lists; acme's calls are also held to a quota.

resource "memory" "acme_cache" {
  max_entries = 1000
}

resource "memory" "globex_cache" {
  max_entries = 1000
}

tenant "acme" {
  resources = [resource.memory.acme_cache]

  # Per resource listed: one lease at a time (in each host), and 5 leases
  # or calls a second with bursts of up to 5.
  quota {
    max_leases = 1
    rate       = "5/s"
    burst      = 5
  }
}

tenant "globex" {
  resources = [resource.memory.globex_cache]
}

# The admin API, on a free loopback port. Each tenant's workers call it
# with their own token, and act for their tenant whatever they ask. The
# tokens are the example's ("acme-example-token", "globex-example-token");
# make real ones with
#
#   head -c 32 /dev/urandom | base64
#
# and write here what  printf %s "$TOKEN" | sha256sum  prints for each.
admin {
  address = "127.0.0.1:0"

  identity "acme-worker" {
    token_sha256 = "c695b42d79a2420ca858fe997c67cab0749a72f3875834c654113b9cb2219478"
    tenant       = "acme"
    allow        = ["invoke", "read"]
  }

  identity "globex-worker" {
    token_sha256 = "b7bdd997984dd49d2931fe7173eea8b4df49c72461d8b440abe5ab7d7da45648"
    tenant       = "globex"
    allow        = ["invoke", "read"]
  }

  # One JSON line for each call and each refusal; never arguments or
  # tokens. The program reads it instead (admin.Config.Audit).
  audit {
    path = "stderr"
  }
}
