package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want is what the program prints against its stand-in server.
const want = `products:
  A-1  Anvil    stock 12
  B-7  Bucket   stock ?
  partial: the stock service timed out at [products 1 stock]
cart: A-1 x 1
cart: A-1 x 2
price 1: A-1 $19.99
price 2: A-1 $18.99
price 3: A-1 $17.49
subscription: {"events":3,"completed":true}
`

// The program, on graphqlquery.hcl, with the plugin binary built from
// this checkout, against its stand-in server: a partial query, two
// mutations and a subscription of three events.
func TestGraphQLQueryQueriesMutatesAndSubscribes(t *testing.T) {
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "nebula-plugin-graphql"),
		"github.com/nebula-resource/nebula-resource/plugins/graphql/cmd/nebula-plugin-graphql")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build nebula-plugin-graphql: %v\n%s", err, out)
	}
	// runWith sets it; t.Setenv puts back what it was.
	t.Setenv("GRAPHQL_URL", "")
	var out bytes.Buffer
	if err := runWith(t.Context(), "graphqlquery.hcl", dir, "", &out); err != nil {
		t.Fatalf("run: %v\nprinted:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Fatalf("printed\n%s\nwant\n%s", got, want)
	}
}
