package config_test

import (
	"fmt"
	"os"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/sdk"
)

func ExampleLoad() {
	cfg, diags := config.Load("testdata/example",
		config.WithVariables(map[string]string{"db_password": "hunter2"}),
		config.WithEnviron(func(string) (string, bool) { return "", false }),
	)
	if diags.HasErrors() {
		_ = config.WriteDiagnostics(os.Stderr, cfg.Files, diags, false)
		return
	}

	// In the host, the plugins publish these schemas through Describe.
	type postgresConfig struct {
		URL      string `nebula:"url,required"`
		Password string `nebula:"password,sensitive"`
	}
	type memoryConfig struct {
		MaxEntries int    `nebula:"max_entries"`
		Eviction   string `nebula:"eviction" default:"lru"`
	}
	schemas := map[string]sdk.Schema{
		"postgres": sdk.MustSchemaFor(postgresConfig{}),
		"memory":   sdk.MustSchemaFor(memoryConfig{}),
	}
	if diags := cfg.DecodeResources(schemas); diags.HasErrors() {
		_ = config.WriteDiagnostics(os.Stderr, cfg.Files, diags, false)
		return
	}

	fmt.Println("shutdown timeout:", cfg.Host.ShutdownTimeout)
	for _, r := range cfg.Resources {
		fmt.Println(r.ID(), "max_size:", r.Pool.MaxSize, "depends on:", r.DependsOn)
	}
	fmt.Println(string(cfg.Resource("memory.cache").Config))
	// Output:
	// shutdown timeout: 45s
	// postgres.main max_size: 20 depends on: []
	// memory.cache max_size: 0 depends on: [postgres.main]
	// {"eviction":"lru","max_entries":1000}
}

func ExampleFormatDiagnostic() {
	cfg, diags := config.Load("testdata/invalid/pool_unknown_attribute.hcl")
	diags = append(diags, cfg.DecodeResources(nil)...)
	for _, d := range diags {
		fmt.Println(config.FormatDiagnostic(d))
	}
	// Output:
	// testdata/invalid/pool_unknown_attribute.hcl:5:5: error: Unsupported argument; An argument named "max_sise" is not expected here. Did you mean "max_size"?
	// testdata/invalid/pool_unknown_attribute.hcl:1:10: error: Unknown resource type; No plugin offers the resource type "memory". No resource types are available; declare the plugin that provides it with a plugin block.
}
