package host

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/nebula-resource/nebula-resource/config"
	"github.com/nebula-resource/nebula-resource/host/quota"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// tenantTable is the tenant blocks of a configuration: which resources
// each tenant reaches, and its quota on each. Never changed; a reload
// makes a new one.
type tenantTable struct {
	byName map[string]*tenant
}

// tenant is one tenant block.
type tenant struct {
	name      string
	resources []string // sorted ids
	limit     quota.Limit
}

// newTenantTable returns the table of ts; nil when there are none, and
// tenants are only labels.
func newTenantTable(ts []*config.Tenant) *tenantTable {
	if len(ts) == 0 {
		return nil
	}
	tt := &tenantTable{byName: make(map[string]*tenant, len(ts))}
	for _, t := range ts {
		ids := slices.Clone(t.Resources)
		slices.Sort(ids)
		tt.byName[t.Name] = &tenant{
			name: t.Name, resources: slices.Compact(ids),
			limit: quota.Limit{MaxLeases: t.Quota.MaxLeases, Rate: t.Quota.Rate, Burst: t.Quota.Burst},
		}
	}
	return tt
}

// reaches reports whether tenant name lists resource id.
func (tt *tenantTable) reaches(name, id string) bool {
	t, ok := tt.byName[name]
	if !ok {
		return false
	}
	_, found := slices.BinarySearch(t.resources, id)
	return found
}

// Reaches reports whether a call made for tenant may reach the resource
// id ("type.name"): always when tenant is "" (the embedding program, or
// an operator acting for no tenant) or when the configuration declares no
// tenant block (tenants are then only labels); otherwise only when the
// tenant's block lists the resource. It does not say whether the resource
// exists, so that a tenant learns nothing of the others' resources.
func (h *Host) Reaches(tenant, id string) bool {
	if tenant == "" {
		return true
	}
	h.mu.Lock()
	t := h.tenants
	h.mu.Unlock()
	if t == nil {
		return true
	}
	return t.reaches(tenant, id)
}

// admit checks a call for owner on the resource id against the owner's
// tenant: that the tenant reaches the resource, and its quota there.
// The returned release gives back the lease the quota counts; nil when
// nothing was taken. The refusal for a resource the tenant does not list
// is the same whether the resource exists or not.
func (h *Host) admit(ctx context.Context, owner Owner, id string) (release func(), err error) {
	if owner.Tenant == "" {
		return nil, nil
	}
	h.mu.Lock()
	tt := h.tenants
	h.mu.Unlock()
	if tt == nil {
		return nil, nil
	}
	// Checked again: a reload may have changed the tenants since the
	// call's name was checked (checkReach).
	t, ok := tt.byName[owner.Tenant]
	if !ok || !tt.reaches(owner.Tenant, id) {
		return nil, notPermitted(owner.Tenant, id)
	}
	if t.limit == (quota.Limit{}) {
		return nil, nil
	}
	return h.quota.Admit(ctx, quota.Key{Tenant: t.name, Resource: id}, t.limit)
}

// notPermitted is the refusal of a call for tenant on the name id, the
// same whether a resource has that name or not.
func notPermitted(tenant, id string) error {
	return newError(sdk.KindPermissionDenied, ErrNotPermitted, "tenant %q may not use %q", tenant, id)
}

// checkReach refuses a call for owner's tenant on a resource name its
// tenant does not list, before the name is looked up: the refusal is the
// same whether the resource exists or not.
func (h *Host) checkReach(owner Owner, name string) error {
	if owner.Tenant == "" || h.Reaches(owner.Tenant, name) {
		return nil
	}
	return notPermitted(owner.Tenant, name)
}

// quotaCommander runs the Redis commands of the shared quota store
// through the host's redis resource id, with its kv command operation.
type quotaCommander struct {
	h  *Host
	id string
}

// quotaStore returns the commander of the quota store id, a redis
// resource; nil when id is "".
func (h *Host) quotaStore(id string) quota.Commander {
	if id == "" {
		return nil
	}
	return quotaCommander{h: h, id: id}
}

// Command runs one command and returns its reply, numbers as
// json.Number.
func (c quotaCommander) Command(ctx context.Context, args ...string) (any, error) {
	raw, err := c.h.Invoke(ctx, c.id, "command", map[string]any{"args": args})
	if err != nil {
		return nil, err
	}
	var res struct {
		Result any `json:"result"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("quota store %s: decode the reply: %w", c.id, err)
	}
	return res.Result, nil
}
