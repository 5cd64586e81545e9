package host

// ResourceIDs returns the ids ("type.name") of the resources, in the order
// they were declared: the order of Describe and Health, without building
// either. The admin API pages its listings with it.
func (h *Host) ResourceIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, len(h.order))
	for i, r := range h.order {
		ids[i] = r.id
	}
	return ids
}
