// Package config reads the host's HCL configuration: the files, the input
// variables, the functions available in expressions, the host's own blocks,
// and the driver attributes of each resource, decoded with the schema its
// plugin published. Every problem is reported as an [hcl.Diagnostic] with
// the file, line and column it is about and a short hint in its Detail.
//
// # The language
//
// A configuration is one .hcl file or a directory of them, merged as one:
//
//	variable "cache_size" {
//	  type    = number
//	  default = 1000
//	  validation {
//	    condition     = var.cache_size > 0
//	    error_message = "cache_size must be positive."
//	  }
//	}
//
//	variable "db_password" {
//	  type      = string
//	  sensitive = true
//	}
//
//	plugin "postgres" {
//	  path   = "./bin/nebula-plugin-postgres" # relative to this file
//	  sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//	}
//
//	admin { address = "127.0.0.1:9464" }
//	host  { shutdown_timeout = "45s" }
//
//	resource "postgres" "main" {
//	  url      = "postgres://app@${env("PGHOST", "127.0.0.1")}:5432/app"
//	  password = var.db_password
//
//	  pool {
//	    max_size        = 20
//	    acquire_timeout = "2s"
//	  }
//	  resilience {
//	    retry { max_attempts = 3 }
//	  }
//	}
//
//	resource "memory" "cache" {
//	  max_entries = var.cache_size
//	  depends_on  = [resource.postgres.main]
//	}
//
// A variable takes its value from [WithVariables], else from the environment
// variable NEBULA_VAR_<name>, else from its default. The values of sensitive
// variables never appear in diagnostics. Expressions may call env, file and
// a few string, collection, JSON and conversion functions. A driver
// attribute may also use a non-sensitive attribute of another resource, as
// resource.<type>.<name>.<attr>; such references and depends_on make the
// dependencies that [Config.Levels] orders, and Load rejects cycles.
//
// # Loading
//
// Loading happens in two steps, because the driver attributes of a resource
// can only be checked once its plugin has described its schema:
//
//	cfg, diags := config.Load("/etc/nebula", config.WithVariables(cliVars))
//	if diags.HasErrors() {
//		config.WriteDiagnostics(os.Stderr, cfg.Files, diags, true)
//		os.Exit(1)
//	}
//	// ... start cfg.Plugins, ask each for its resource types and schemas ...
//	if diags := cfg.DecodeResources(schemas); diags.HasErrors() {
//		config.WriteDiagnostics(os.Stderr, cfg.Files, diags, true)
//		os.Exit(1)
//	}
//	for _, r := range cfg.Resources {
//		// r.Config is the driver's configuration as JSON; r.Pool,
//		// r.Health and r.Resilience are the host's settings for it.
//	}
//
// [WriteDiagnosticsJSON] writes diagnostics in the shape of
// "terraform validate -json", and [FormatDiagnostic] formats one on a line.
package config
