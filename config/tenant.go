package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Tenant is a tenant block: a team or customer whose calls reach only the
// resources listed, within its quota on each.
type Tenant struct {
	// Name is the block label.
	Name string
	// Resources are the ids ("type.name") of the resources the tenant may
	// use (resources), as written.
	Resources []string
	// Quota is the quota block; zero fields mean no limit. It holds for
	// each of Resources separately.
	Quota Quota
	// DeclRange is the block's header.
	DeclRange hcl.Range

	// resourceRanges holds the range of each Resources entry.
	resourceRanges []hcl.Range
}

// Quota is the quota block of a tenant: limits per resource.
type Quota struct {
	// MaxLeases is the most leases the tenant holds on one resource at
	// once (max_leases); 0 for no limit. It holds in each host.
	MaxLeases int
	// Rate is the calls per second the tenant may make on one resource
	// (rate, written "100/s", "6000/m" or "36000/h"); 0 for no limit. With
	// the host block's quota_store it holds across the hosts that share
	// the store.
	Rate float64
	// RateText is rate as written, for listings.
	RateText string
	// Burst is how many calls may come at once above the rate (burst).
	// Zero means the rate per second rounded up, at least 1.
	Burst int
}

var tenantSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "resources", Required: true}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "quota"}},
}

var quotaSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "max_leases"}, {Name: "rate"}, {Name: "burst"}},
}

// decodeTenant decodes a tenant block. Whether the resources it lists are
// declared is checked by checkTenants, once every block is read.
func decodeTenant(block *hcl.Block, ev *evaluator) (*Tenant, hcl.Diagnostics) {
	t := &Tenant{Name: block.Labels[0], DeclRange: block.DefRange}
	content, diags := block.Body.Content(tenantSchema)
	if !validName(t.Name) {
		diags = append(diags, errorAt(block.LabelRanges[0], "Invalid tenant name",
			fmt.Sprintf("A tenant's name must start with a letter and hold only letters, digits, underscores and dashes; %q does not.", t.Name)))
	}
	if attr, ok := content.Attributes["resources"]; ok {
		exprs, ldiags := hcl.ExprList(attr.Expr)
		diags = append(diags, ldiags...)
		for _, e := range exprs {
			tr, tdiags := hcl.AbsTraversalForExpr(e)
			id, ok := resourceRef(tr)
			if tdiags.HasErrors() || !ok {
				diags = append(diags, errorAt(e.Range(), "Invalid resource in tenant",
					"A tenant lists resources as references, as in resources = [resource.postgres.main, resource.redis.cache]."))
				continue
			}
			t.Resources = append(t.Resources, id)
			t.resourceRanges = append(t.resourceRanges, e.Range())
		}
	}
	for i, b := range content.Blocks {
		if i > 0 {
			diags = append(diags, alreadyDeclared(b.DefRange, "Duplicate quota block",
				"A quota block", content.Blocks[0].DefRange, "Merge the two blocks into one."))
			continue
		}
		qc, qdiags := b.Body.Content(quotaSchema)
		diags = append(diags, qdiags...)
		d := &attrDecoder{ev: ev, attrs: qc.Attributes}
		d.int("max_leases", &t.Quota.MaxLeases)
		d.int("burst", &t.Quota.Burst)
		if attr := d.string("rate", &t.Quota.RateText); attr != nil {
			rate, err := ParseRate(t.Quota.RateText)
			if err != nil {
				d.errorf(attr, "Invalid rate", "%v", err)
			}
			t.Quota.Rate = rate
		}
		diags = append(diags, d.diags...)
	}
	return t, diags
}

// ParseRate parses a rate written as "N/s", "N/m" or "N/h" (N a positive
// number) into calls per second.
func ParseRate(s string) (float64, error) {
	n, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	var per time.Duration
	switch strings.TrimSpace(unit) {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		ok = false
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
	if !ok || err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("the rate %q is not a number of calls per second, minute or hour; write it as \"100/s\", \"6000/m\" or \"36000/h\"", s)
	}
	return v / per.Seconds(), nil
}

// checkTenants reports tenant blocks that share a name or list a resource
// that is not declared, and a quota_store that names no redis resource.
func checkTenants(cfg *Config) hcl.Diagnostics {
	ids := map[string]bool{}
	for _, r := range cfg.Resources {
		ids[r.ID()] = true
	}
	known := sortedKeys(ids)
	var diags hcl.Diagnostics
	seen := map[string]*Tenant{}
	for _, t := range cfg.Tenants {
		if first, dup := seen[t.Name]; dup {
			diags = append(diags, alreadyDeclared(t.DeclRange, "Duplicate tenant",
				fmt.Sprintf("A tenant named %q", t.Name), first.DeclRange, "Give each tenant a unique name."))
			continue
		}
		seen[t.Name] = t
		for i, id := range t.Resources {
			if !ids[id] {
				hint := ""
				if s := suggestion(id, known); s != "" {
					hint = fmt.Sprintf(" Did you mean resource.%s?", s)
				}
				diags = append(diags, errorAt(t.resourceRanges[i], "Reference to undeclared resource",
					fmt.Sprintf("Tenant %q lists resource.%s, which is not declared.%s", t.Name, id, hint)))
			}
		}
	}
	if qs := cfg.Host.QuotaStore; qs != "" {
		switch {
		case !ids[qs]:
			diags = append(diags, errorAt(cfg.Host.QuotaStoreRange, "Reference to undeclared resource",
				fmt.Sprintf("quota_store names resource.%s, which is not declared. Declare a redis resource for it.", qs)))
		case !strings.HasPrefix(qs, "redis."):
			diags = append(diags, errorAt(cfg.Host.QuotaStoreRange, "Quota store is not redis",
				fmt.Sprintf("quota_store names resource.%s; the tenants' rate quotas are shared through a redis resource, such as resource.redis.quota.", qs)))
		}
	}
	return diags
}

// decodeQuotaStore decodes the host block's quota_store, a reference to a
// resource.
func decodeQuotaStore(attr *hcl.Attribute, h *HostSettings) hcl.Diagnostics {
	tr, tdiags := hcl.AbsTraversalForExpr(attr.Expr)
	id, ok := resourceRef(tr)
	if tdiags.HasErrors() || !ok {
		return hcl.Diagnostics{errorAt(attr.Expr.Range(), "Invalid quota_store",
			"quota_store refers to a redis resource, as in quota_store = resource.redis.quota.")}
	}
	h.QuotaStore, h.QuotaStoreRange = id, attr.Expr.Range()
	return nil
}

// TenantOf returns the tenant block named name, or nil.
func (c *Config) TenantOf(name string) *Tenant {
	for _, t := range c.Tenants {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// checkIdentityRefs reports admin identities that act for a tenant no
// tenant block declares (without one, the identity would reach every
// resource), and tokens that name undeclared credentials.
func checkIdentityRefs(cfg *Config) hcl.Diagnostics {
	names := make([]string, len(cfg.Tenants))
	for i, t := range cfg.Tenants {
		names[i] = t.Name
	}
	var diags hcl.Diagnostics
	for _, id := range cfg.Admin.Auth.Identities {
		if id.Tenant != "" && cfg.TenantOf(id.Tenant) == nil {
			subject := id.DeclRange
			if id.tenantRange != (hcl.Range{}) {
				subject = id.tenantRange
			}
			hint := didYouMean(id.Tenant, names)
			if hint == "" {
				hint = fmt.Sprintf(" Declare it: tenant %q { resources = [...] }.", id.Tenant)
			}
			diags = append(diags, errorAt(subject, "Undeclared tenant",
				fmt.Sprintf("Identity %q acts for tenant %q, which no tenant block declares: its resources would be unknown.%s", id.Name, id.Tenant, hint)))
		}
		if id.Token != nil {
			diags = append(diags, checkCredentialRefs([]CredentialRef{*id.Token}, cfg.Credentials)...)
		}
	}
	return diags
}
