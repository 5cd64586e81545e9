package admin

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/nebula-resource/nebula-resource/api"
	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// page returns the slice of ids a request's ?limit= and ?after= select,
// and the next page's cursor.
func page(r *http.Request, ids []string) (sel []string, next string, err error) {
	q := r.URL.Query()
	limit := api.DefaultPageSize
	if v := q.Get("limit"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 1 || n > api.MaxPageSize {
			return nil, "", sdk.Errorf(sdk.KindInvalidArgument, "limit %s must be a whole number from 1 to %d", Quote(v), api.MaxPageSize)
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

// reaches reports whether the request's identity may see and use the
// resource id: always, unless it acts for a tenant that does not reach it.
func (s *Server) reaches(r *http.Request, id string) bool {
	tenant := tenantOf(r)
	return tenant == "" || s.h.Reaches(tenant, id)
}

// listResources serves a page of the resources the caller may see; Total
// counts those alone.
func (s *Server) listResources(w http.ResponseWriter, r *http.Request) {
	ids := s.h.ResourceIDs()
	if tenantOf(r) != "" {
		ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !s.reaches(r, id) })
	}
	sel, next, err := page(r, ids)
	if err != nil {
		s.writeError(w, "", "", err)
		return
	}
	list := api.ResourceList{Resources: make([]api.ResourceSummary, 0, len(sel)), Types: map[string]api.TypeInfo{}, Total: len(ids), Next: next}
	for _, id := range sel {
		info, err := s.h.DescribeResource(id)
		if err != nil {
			continue // gone since ResourceIDs: resources are fixed at New, so never
		}
		st := info.Pool.Stat
		list.Resources = append(list.Resources, api.ResourceSummary{
			ID: info.ID, Type: info.Type, Name: info.Name, State: api.ResourceState(info.State), Error: info.Error,
			Health: api.HealthState(info.Health), DependsOn: info.DependsOn,
			Pool: api.PoolSummary{Total: st.Total, Idle: st.Idle, InUse: st.InUse, MaxSize: st.MaxSize, Waiting: st.Waiting, Leases: len(info.Pool.Leases)},
		})
		if _, ok := list.Types[info.Type]; !ok {
			list.Types[info.Type] = api.TypeInfo{Plugin: info.Plugin, Pooling: api.Pooling(info.Pooling), Capabilities: info.Capabilities, Operations: operationsOf(info.Operations)}
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// visibleHealth returns the host's health report as the request's caller
// may see it: to an identity that acts for a tenant, its tenant's
// resources alone, the aggregates over them, and neither credentials nor
// the quota store.
func (s *Server) visibleHealth(r *http.Request) host.HealthReport {
	rep := s.h.Health()
	if tenantOf(r) == "" {
		return rep
	}
	out := host.HealthReport{Status: host.HealthHealthy, Types: map[string]host.HealthState{}, Resources: make([]host.ResourceHealth, 0, len(rep.Resources))}
	for _, rh := range rep.Resources {
		if !s.reaches(r, rh.ID) {
			continue
		}
		out.Resources = append(out.Resources, rh)
		if t, ok := out.Types[rh.Type]; !ok || rh.State.Severity() > t.Severity() {
			out.Types[rh.Type] = rh.State
		}
		if rh.State.Severity() > out.Status.Severity() {
			out.Status = rh.State
		}
	}
	return out
}

// health serves the health report. It answers 200 whatever the resources'
// health: it informs; /readyz is the probe.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	rep := s.visibleHealth(r)
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
	writeJSON(w, http.StatusOK, api.HealthPage{HealthReport: healthReportOf(rep), Total: total, Next: next})
}
