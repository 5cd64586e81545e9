admin {
  identity "ops" {
    token_sha256 = "3F1C9E4E6B1A0B7F7AD5E2C4D1F0A9B8C7D6E5F4A3B2C1D0E9F8A7B6C5D4E3F2"
    allow        = ["read", "invoke", "admin"]
  }
  identity "ops" {
    token_sha256 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
  }
  identity "copycat" {
    token_sha256 = "3f1c9e4e6b1a0b7f7ad5e2c4d1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2"
  }
  identity "short" {
    token_sha256 = "3f1c"
  }
  identity "both" {
    token_sha256 = "aa112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    token        = credential.admin.both
  }
  identity "literal" {
    token = "s3cr3t-do-not-write-me"
  }
  identity "nothing" {
    tenant = "acme"
  }
  identity "typo" {
    client_cert_names = ["typo.worker"]
    allow             = ["reed"]
  }
  identity "acme-admin" {
    token  = credential.admin.acme
    tenant = "acme"
    allow  = ["invoke", "admin"]
  }
}
