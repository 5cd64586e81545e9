package host

import "github.com/prometheus/client_golang/prometheus"

// tenantCollector exports, at each scrape, the tenants' use of their
// quotas and the credentials' state: series per tenant and resource
// listed in a tenant block, and per credential block, both bounded by the
// configuration.
type tenantCollector struct {
	h                                      *Host
	leases, admitted, refused              *prometheus.Desc
	credState, credRefreshes, credFailures *prometheus.Desc
}

func newTenantCollector(h *Host) *tenantCollector {
	tr := []string{"tenant", "resource"}
	return &tenantCollector{
		h:             h,
		leases:        prometheus.NewDesc("nebula_tenant_leases_out", "Leases a tenant holds on a resource now, in this host.", tr, nil),
		admitted:      prometheus.NewDesc("nebula_tenant_admitted_total", "Leases and calls of a tenant on a resource admitted by its quota.", tr, nil),
		refused:       prometheus.NewDesc("nebula_tenant_refused_total", "Leases and calls of a tenant on a resource refused by its quota (resource_exhausted).", tr, nil),
		credState:     prometheus.NewDesc("nebula_credential_state", "Credentials in each state: per credential, 1 for its state (ok, stale, expired, pending) and 0 for the others.", []string{"credential", "state"}, nil),
		credRefreshes: prometheus.NewDesc("nebula_credential_refreshes_total", "Reads of a credential's value after the first.", []string{"credential"}, nil),
		credFailures:  prometheus.NewDesc("nebula_credential_refresh_failures_total", "Reads of a credential's value that failed.", []string{"credential"}, nil),
	}
}

func (c *tenantCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leases, c.admitted, c.refused, c.credState, c.credRefreshes, c.credFailures} {
		ch <- d
	}
}

func (c *tenantCollector) Collect(ch chan<- prometheus.Metric) {
	if q := c.h.quota; q != nil {
		for _, u := range q.Usage() {
			ch <- prometheus.MustNewConstMetric(c.leases, prometheus.GaugeValue, float64(u.Leases), u.Tenant, u.Resource)
			ch <- prometheus.MustNewConstMetric(c.admitted, prometheus.CounterValue, float64(u.Admitted), u.Tenant, u.Resource)
			ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(u.Refused), u.Tenant, u.Resource)
		}
	}
	store := c.h.creds.Load()
	if store == nil {
		return
	}
	for _, st := range store.Status() {
		for _, s := range []string{"ok", "stale", "expired", "pending"} {
			v := 0.0
			if st.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.credState, prometheus.GaugeValue, v, st.Name, s)
		}
		ch <- prometheus.MustNewConstMetric(c.credRefreshes, prometheus.CounterValue, float64(st.Refreshes), st.Name)
		ch <- prometheus.MustNewConstMetric(c.credFailures, prometheus.CounterValue, float64(st.Failures), st.Name)
	}
}
