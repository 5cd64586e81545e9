package admin

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// Page sizes of the listings that grow with the number of resources
// (/v1/resources and /v1/health): ?limit= asks for up to MaxPageSize
// items; without it a page has DefaultPageSize.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// ResourceList is the body of GET /v1/resources: a page of resources in
// the order they were declared, and, once for each type on the page, what
// the type offers. Next, when set, is the ?after= value of the next page.
type ResourceList struct {
	Resources []ResourceSummary `json:"resources"`
	// Types describes each resource type of the page's resources, by
	// type name; a resource's operations are its type's.
	Types map[string]TypeInfo `json:"types"`
	// Total is how many resources the host has.
	Total int    `json:"total"`
	Next  string `json:"next,omitempty"`
}

// ResourceSummary is one resource in a listing. GET /v1/resources/{name}
// gives the whole of it: settings, statistics, leases, resilience.
type ResourceSummary struct {
	ID        string             `json:"id"`
	Type      string             `json:"type"`
	Name      string             `json:"name"`
	State     host.ResourceState `json:"state"`
	Error     string             `json:"error,omitempty"`
	Health    host.HealthState   `json:"health"`
	DependsOn []string           `json:"depends_on,omitempty"`
	// Pool counts the resource's instances.
	Pool PoolSummary `json:"pool"`
}

// PoolSummary counts a pool's instances and leases.
type PoolSummary struct {
	Total   int `json:"total"`
	Idle    int `json:"idle"`
	InUse   int `json:"in_use"`
	MaxSize int `json:"max_size"`
	Waiting int `json:"waiting"`
	Leases  int `json:"leases"`
}

// TypeInfo is what a resource type offers, listed once per type.
type TypeInfo struct {
	Plugin       string               `json:"plugin"`
	Pooling      sdk.Pooling          `json:"pooling"`
	Capabilities []string             `json:"capabilities"`
	Operations   []host.OperationInfo `json:"operations"`
}

// HealthPage is the body of GET /v1/health: the host's overall status and
// each type's, over every resource, and a page of the resources' health.
// Next, when set, is the ?after= value of the next page.
type HealthPage struct {
	host.HealthReport
	// Total is how many resources the host has.
	Total int    `json:"total"`
	Next  string `json:"next,omitempty"`
}

// page returns the slice of ids a request's ?limit= and ?after= select,
// and the next page's cursor.
func page(r *http.Request, ids []string) (sel []string, next string, err error) {
	q := r.URL.Query()
	limit := DefaultPageSize
	if v := q.Get("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > MaxPageSize {
			return nil, "", sdk.Errorf(sdk.KindInvalidArgument, "limit %s must be a whole number from 1 to %d", Quote(v), MaxPageSize)
		}
		limit = n
	}
	start := 0
	if after := q.Get("after"); after != "" {
		i := slices.Index(ids, after)
		if i < 0 {
			return nil, "", sdk.Errorf(sdk.KindInvalidArgument, "after %s names no resource; pass the next value of the previous page", Quote(after))
		}
		start = i + 1
	}
	end := min(start+limit, len(ids))
	sel = ids[start:end]
	if end < len(ids) && len(sel) > 0 {
		next = sel[len(sel)-1]
	}
	return sel, next, nil
}

func (s *Server) listResources(w http.ResponseWriter, r *http.Request) {
	ids := s.h.ResourceIDs()
	sel, next, err := page(r, ids)
	if err != nil {
		s.writeError(w, "", "", err)
		return
	}
	list := ResourceList{Resources: make([]ResourceSummary, 0, len(sel)), Types: map[string]TypeInfo{}, Total: len(ids), Next: next}
	for _, id := range sel {
		info, err := s.h.DescribeResource(id)
		if err != nil {
			continue // gone since ResourceIDs: resources are fixed at New, so never
		}
		st := info.Pool.Stat
		list.Resources = append(list.Resources, ResourceSummary{
			ID: info.ID, Type: info.Type, Name: info.Name, State: info.State, Error: info.Error,
			Health: info.Health, DependsOn: info.DependsOn,
			Pool: PoolSummary{Total: st.Total, Idle: st.Idle, InUse: st.InUse, MaxSize: st.MaxSize, Waiting: st.Waiting, Leases: len(info.Pool.Leases)},
		})
		if _, ok := list.Types[info.Type]; !ok {
			list.Types[info.Type] = TypeInfo{Plugin: info.Plugin, Pooling: info.Pooling, Capabilities: info.Capabilities, Operations: info.Operations}
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// health serves the health report. It answers 200 whatever the resources'
// health: it informs; /readyz is the probe.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	rep := s.h.Health()
	ids := make([]string, len(rep.Resources))
	for i, rh := range rep.Resources {
		ids[i] = rh.ID
	}
	sel, next, err := page(r, ids)
	if err != nil {
		s.writeError(w, "", "", err)
		return
	}
	start := 0
	if len(sel) > 0 {
		start = slices.Index(ids, sel[0])
	}
	total := len(rep.Resources)
	rep.Resources = rep.Resources[start : start+len(sel)]
	writeJSON(w, http.StatusOK, HealthPage{HealthReport: rep, Total: total, Next: next})
}
