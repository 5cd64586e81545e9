package config

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// The reserved names of a resource body: the host's own settings.
var resourceSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "depends_on"}, {Name: "critical"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "pool"},
		{Type: "health"},
		{Type: "resilience"},
	},
}

var poolSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "min_size"},
		{Name: "max_size"},
		{Name: "max_idle"},
		{Name: "replicas"},
		{Name: "idle_timeout"},
		{Name: "max_lifetime"},
		{Name: "acquire_timeout"},
		{Name: "validate_after_idle"},
		{Name: "lease_timeout"},
		{Name: "reclaim"},
		{Name: "lifetime_jitter"},
		{Name: "order"},
		{Name: "drain_timeout"},
		{Name: "selection"},
	},
}

var healthSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "interval"},
		{Name: "timeout"},
		{Name: "jitter"},
		{Name: "unhealthy_after"},
		{Name: "healthy_after"},
	},
}

var resilienceSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "timeout"},
		{Name: "attempt_timeout"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "retry"},
		{Type: "circuit_breaker"},
		{Type: "bulkhead"},
	},
}

var retrySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "max_attempts"},
		{Name: "backoff"},
		{Name: "max_backoff"},
		{Name: "budget"},
	},
}

var circuitBreakerSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "failure_threshold"},
		{Name: "failure_ratio"},
		{Name: "window"},
		{Name: "open_for"},
		{Name: "half_open_probes"},
	},
}

var bulkheadSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "max_concurrent"},
		{Name: "max_queue"},
	},
}

// decodeResource decodes a resource block's reserved names; the rest of
// the body is kept for DecodeResources.
func decodeResource(block *hcl.Block, ev *evaluator) (*Resource, hcl.Diagnostics) {
	r := &Resource{
		Type:      block.Labels[0],
		Name:      block.Labels[1],
		DeclRange: block.DefRange,
		TypeRange: block.LabelRanges[0],
		NameRange: block.LabelRanges[1],
	}
	var diags hcl.Diagnostics
	for i, label := range block.Labels {
		if !hclsyntax.ValidIdentifier(label) {
			what := [...]string{"type", "name"}[i]
			diags = append(diags, errorAt(block.LabelRanges[i], "Invalid resource "+what, fmt.Sprintf(
				"%q is not a valid resource %s: start with a letter and use only letters, digits, underscores and dashes.", label, what)))
		}
	}
	content, remain, cdiags := block.Body.PartialContent(resourceSchema)
	diags = append(diags, cdiags...)
	r.Body = remain
	if attr, ok := content.Attributes["depends_on"]; ok {
		diags = append(diags, r.decodeDependsOn(attr)...)
	}
	if _, ok := content.Attributes["critical"]; ok {
		d := &attrDecoder{ev: ev, attrs: content.Attributes}
		var critical bool
		if d.bool("critical", &critical) != nil && !d.diags.HasErrors() {
			r.Critical = &critical
		}
		diags = append(diags, d.diags...)
	}
	diags = append(diags, r.collectReferences()...)
	blocks, bdiags := firstOfEachType(content.Blocks)
	diags = append(diags, bdiags...)
	for _, b := range blocks {
		switch b.Type {
		case "pool":
			diags = append(diags, decodePool(b, ev, &r.Pool)...)
		case "health":
			diags = append(diags, decodeHealth(b, ev, &r.Health)...)
		case "resilience":
			diags = append(diags, decodeResilience(b, ev, &r.Resilience)...)
		}
	}
	return r, diags
}

// decodeDependsOn decodes depends_on, a list of resource.<type>.<name>
// references. Whether they name declared resources is checked once every
// file is loaded, by checkGraph.
func (r *Resource) decodeDependsOn(attr *hcl.Attribute) hcl.Diagnostics {
	exprs, diags := hcl.ExprList(attr.Expr)
	for _, e := range exprs {
		t, tdiags := hcl.AbsTraversalForExpr(e)
		id, ok := resourceRef(t)
		if tdiags.HasErrors() || !ok {
			diags = append(diags, errorAt(e.Range(), "Invalid depends_on reference",
				"Write each dependency as a reference of the form resource.<type>.<name>, without quotes, for example resource.postgres.main."))
			continue
		}
		r.DependsOn = append(r.DependsOn, id)
		r.dependsOnRanges = append(r.dependsOnRanges, e.Range())
	}
	return diags
}

// resourceRef returns "type.name" for the traversal resource.type.name.
func resourceRef(t hcl.Traversal) (string, bool) {
	if len(t) != 3 || t.RootName() != "resource" {
		return "", false
	}
	typ, ok1 := t[1].(hcl.TraverseAttr)
	name, ok2 := t[2].(hcl.TraverseAttr)
	if !ok1 || !ok2 {
		return "", false
	}
	return typ.Name + "." + name.Name, true
}

// decodePool decodes a pool block into p.
func decodePool(block *hcl.Block, ev *evaluator, p *Pool) hcl.Diagnostics {
	content, diags := block.Body.Content(poolSchema)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	minAttr := d.int("min_size", &p.MinSize)
	maxAttr := d.int("max_size", &p.MaxSize)
	idleAttr := d.int("max_idle", &p.MaxIdle)
	d.int("replicas", &p.Replicas)
	d.duration("idle_timeout", &p.IdleTimeout)
	d.duration("max_lifetime", &p.MaxLifetime)
	d.duration("acquire_timeout", &p.AcquireTimeout)
	d.duration("validate_after_idle", &p.ValidateAfterIdle)
	leaseAttr := d.duration("lease_timeout", &p.LeaseTimeout)
	reclaimAttr := d.bool("reclaim", &p.Reclaim)
	d.duration("lifetime_jitter", &p.LifetimeJitter)
	d.enum("order", &p.Order, "lifo", "fifo")
	d.duration("drain_timeout", &p.DrainTimeout)
	d.enum("selection", &p.Selection, "round_robin", "weighted", "least_loaded")
	if minAttr != nil && maxAttr != nil && p.MinSize > p.MaxSize {
		d.errorf(minAttr, "Invalid pool size",
			"min_size (%d) is greater than max_size (%d); lower min_size or raise max_size.", p.MinSize, p.MaxSize)
	}
	if idleAttr != nil && minAttr != nil && p.MaxIdle > 0 && p.MaxIdle < p.MinSize {
		// The pool would close the idle instances beyond max_idle and open
		// them again to keep min_size, forever.
		d.errorf(idleAttr, "Invalid pool size",
			"max_idle (%d) is less than min_size (%d): the pool would close idle instances and open them again without end; raise max_idle or lower min_size.", p.MaxIdle, p.MinSize)
	}
	// An invalid lease_timeout is reported already.
	_, leaseWritten := content.Attributes["lease_timeout"]
	if reclaimAttr != nil && p.Reclaim && (!leaseWritten || leaseAttr != nil) && p.LeaseTimeout == 0 {
		d.errorf(reclaimAttr, "Missing lease_timeout",
			"reclaim = true takes back leases held longer than lease_timeout, so it needs a lease_timeout greater than zero. Set one, such as lease_timeout = \"5m\", or remove reclaim.")
	}
	return append(diags, d.diags...)
}

// decodeHealth decodes a health block into h.
func decodeHealth(block *hcl.Block, ev *evaluator, h *Health) hcl.Diagnostics {
	content, diags := block.Body.Content(healthSchema)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	if attr := d.duration("interval", &h.Interval); attr != nil && h.Interval == 0 {
		d.errorf(attr, "Invalid value", "Attribute \"interval\" must be longer than 0s, such as \"10s\".")
	}
	d.duration("timeout", &h.Timeout)
	d.duration("jitter", &h.Jitter)
	d.atLeastOne(d.int("unhealthy_after", &h.UnhealthyAfter), h.UnhealthyAfter)
	d.atLeastOne(d.int("healthy_after", &h.HealthyAfter), h.HealthyAfter)
	return append(diags, d.diags...)
}

// decodeResilience decodes a resilience block and its sub-blocks into r.
func decodeResilience(block *hcl.Block, ev *evaluator, r *Resilience) hcl.Diagnostics {
	content, diags := block.Body.Content(resilienceSchema)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	d.duration("timeout", &r.Timeout)
	d.duration("attempt_timeout", &r.AttemptTimeout)
	diags = append(diags, d.diags...)
	blocks, bdiags := firstOfEachType(content.Blocks)
	diags = append(diags, bdiags...)
	for _, b := range blocks {
		switch b.Type {
		case "retry":
			r.Retry = &Retry{}
			diags = append(diags, decodeRetry(b, ev, r.Retry)...)
		case "circuit_breaker":
			r.CircuitBreaker = &CircuitBreaker{}
			diags = append(diags, decodeCircuitBreaker(b, ev, r.CircuitBreaker)...)
		case "bulkhead":
			r.Bulkhead = &Bulkhead{}
			diags = append(diags, decodeBulkhead(b, ev, r.Bulkhead)...)
		}
	}
	return diags
}

func decodeRetry(block *hcl.Block, ev *evaluator, r *Retry) hcl.Diagnostics {
	content, diags := block.Body.Content(retrySchema)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	d.atLeastOne(d.int("max_attempts", &r.MaxAttempts), r.MaxAttempts)
	d.duration("backoff", &r.Backoff)
	if attr := d.duration("max_backoff", &r.MaxBackoff); attr != nil && r.Backoff > r.MaxBackoff {
		d.errorf(attr, "Invalid value", "Attribute \"max_backoff\" (%s) is shorter than \"backoff\" (%s); the delay grows from backoff up to max_backoff.", r.MaxBackoff, r.Backoff)
	}
	if attr := d.float("budget", &r.Budget); attr != nil && (r.Budget <= 0 || r.Budget > 1) {
		d.errorf(attr, "Invalid value", "Attribute \"budget\" must be greater than 0 and at most 1: the share of calls in flight that may be retries, such as 0.2.")
		r.Budget = 0
	}
	return append(diags, d.diags...)
}

func decodeCircuitBreaker(block *hcl.Block, ev *evaluator, cb *CircuitBreaker) hcl.Diagnostics {
	content, diags := block.Body.Content(circuitBreakerSchema)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	d.atLeastOne(d.int("failure_threshold", &cb.FailureThreshold), cb.FailureThreshold)
	if attr := d.float("failure_ratio", &cb.FailureRatio); attr != nil && (cb.FailureRatio <= 0 || cb.FailureRatio > 1) {
		d.errorf(attr, "Invalid value",
			"Attribute \"failure_ratio\" must be greater than 0 and at most 1, such as 0.5 for half the calls.")
		cb.FailureRatio = 0
	}
	d.duration("window", &cb.Window)
	d.duration("open_for", &cb.OpenFor)
	d.atLeastOne(d.int("half_open_probes", &cb.HalfOpenProbes), cb.HalfOpenProbes)
	return append(diags, d.diags...)
}

func decodeBulkhead(block *hcl.Block, ev *evaluator, b *Bulkhead) hcl.Diagnostics {
	content, diags := block.Body.Content(bulkheadSchema)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	if d.atLeastOne(d.int("max_concurrent", &b.MaxConcurrent), b.MaxConcurrent); content.Attributes["max_concurrent"] == nil {
		diags = append(diags, errorAt(block.DefRange, "Missing max_concurrent",
			"A bulkhead block needs \"max_concurrent\", the most calls to the resource in flight at once."))
	}
	d.int("max_queue", &b.MaxQueue)
	return append(diags, d.diags...)
}
