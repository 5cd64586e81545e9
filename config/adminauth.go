package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// AdminAuth is who may call the admin API and how they prove it: the tls,
// identity and audit blocks inside the admin block. Its zero value, no
// identity, trusts every caller that reaches the address, which is then
// loopback only.
type AdminAuth struct {
	// TLS makes the admin API serve HTTPS (the tls block); nil serves
	// plain HTTP.
	TLS *AdminTLS
	// Identities are the callers the admin API knows (identity blocks),
	// in the order they were declared. With at least one, every request
	// but the probes must authenticate as one of them.
	Identities []*Identity
	// Audit configures the audit log of calls and refusals (the audit
	// block); nil keeps none.
	Audit *Audit
}

// AdminTLS is the tls block of the admin block.
type AdminTLS struct {
	// CertFile and KeyFile are the server's certificate chain and private
	// key, PEM (cert_file, key_file), resolved relative to the directory
	// of the file that sets them and made absolute. Both required.
	CertFile, KeyFile string
	// ClientCAFile holds the PEM certificates of the authorities that
	// sign client certificates (client_ca_file), resolved as CertFile.
	// Set, a client may present a certificate, which must verify against
	// them (mutual TLS); identities may then name client certificates.
	// Empty: no client certificates.
	ClientCAFile string
	// DeclRange is the tls block's header.
	DeclRange hcl.Range
}

// Identity is an identity block: a caller of the admin API, the
// credentials it proves itself with, and what it may do.
type Identity struct {
	// Name is the block label; the audit log names callers by it.
	Name string
	// TokenSHA256 is the SHA-256 of the identity's bearer token, 64
	// lower-case hexadecimal characters (token_sha256); "" when the
	// identity has no fixed token.
	TokenSHA256 string
	// Token is the credential attribute that holds the identity's bearer
	// token (token = credential.NAME.ATTR), read while the host runs so
	// that rotating the credential rotates the token; nil when unset.
	// At most one of TokenSHA256 and Token is set.
	Token *CredentialRef
	// ClientCertNames authenticate a client certificate that verified
	// against AdminTLS.ClientCAFile and whose subject common name or one
	// of whose DNS names is one of these (client_cert_names).
	ClientCertNames []string
	// Tenant is the tenant the identity acts for (tenant): it reaches
	// only that tenant's resources, and its calls count against that
	// tenant's quotas. "" means every tenant: an operator.
	Tenant string
	// Allow lists the identity's permissions (allow), each one of
	// PermissionRead, PermissionInvoke and PermissionAdmin. Default
	// [PermissionRead].
	Allow []string
	// DeclRange is the identity block's header.
	DeclRange hcl.Range

	// tenantRange is the range of tenant's value; zero when unset.
	tenantRange hcl.Range

	// Ranges of the attributes, for diagnostics made after decoding;
	// zero when unset.
	tokenSHA256Range, certNamesRange, allowRange hcl.Range
}

// The permissions an identity may be allowed (the allow attribute).
const (
	// PermissionRead lists and describes resources, their health and
	// the API's description.
	PermissionRead = "read"
	// PermissionInvoke performs operations, streaming ones included.
	PermissionInvoke = "invoke"
	// PermissionAdmin lists plugins, reads the metrics and reloads the
	// configuration; only an identity without a tenant may use it.
	PermissionAdmin = "admin"
)

// permissions are the values allow takes, in the order diagnostics list
// them.
var permissions = []string{PermissionInvoke, PermissionRead, PermissionAdmin}

// Allows reports whether the identity has permission p.
func (id *Identity) Allows(p string) bool { return slices.Contains(id.Allow, p) }

// Audit is the audit block of the admin block.
type Audit struct {
	// Path is the file the audit log is appended to (path), resolved as
	// AdminTLS.CertFile, or AuditStderr for the host's standard error.
	Path string
}

// AuditStderr is the Audit.Path that writes the audit log to standard
// error.
const AuditStderr = "stderr"

// RemoteAccess reports whether the admin block lets the admin API listen
// on an address that is not loopback: allow_remote is set and at least one
// identity authenticates the callers. Pass it as CheckAdminAddress's
// allowRemote.
func (a *Admin) RemoteAccess() bool { return a.AllowRemote && len(a.Auth.Identities) > 0 }

var adminTLSSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "cert_file", Required: true},
		{Name: "key_file", Required: true},
		{Name: "client_ca_file"},
	},
}

var identitySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "token_sha256"},
		{Name: "token"},
		{Name: "client_cert_names"},
		{Name: "tenant"},
		{Name: "allow"},
	},
}

var auditSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "path", Required: true},
	},
}

// decodeAdminAuth decodes the tls, identity and audit blocks of an admin
// block into a, and checks the identities against each other and against
// the tls block.
func decodeAdminAuth(blocks hcl.Blocks, ev *evaluator, a *AdminAuth) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var tlsBlock, auditBlock *hcl.Block
	names := map[string]*Identity{}
	for _, b := range blocks {
		switch b.Type {
		case "tls":
			if tlsBlock != nil {
				diags = append(diags, alreadyDeclared(b.DefRange, "Duplicate tls block", "A tls block", tlsBlock.DefRange, "Merge the two blocks into one."))
				continue
			}
			tlsBlock = b
			t, tdiags := decodeAdminTLS(b, ev)
			diags = append(diags, tdiags...)
			a.TLS = t
		case "audit":
			if auditBlock != nil {
				diags = append(diags, alreadyDeclared(b.DefRange, "Duplicate audit block", "An audit block", auditBlock.DefRange, "Merge the two blocks into one."))
				continue
			}
			auditBlock = b
			au, adiags := decodeAudit(b, ev)
			diags = append(diags, adiags...)
			a.Audit = au
		case "identity":
			id, idiags := decodeIdentity(b, ev)
			diags = append(diags, idiags...)
			if first, dup := names[id.Name]; dup {
				diags = append(diags, alreadyDeclared(b.LabelRanges[0], "Duplicate identity",
					fmt.Sprintf("An identity named %q", id.Name), first.DeclRange, "Give each identity a unique name."))
				continue
			}
			names[id.Name] = id
			a.Identities = append(a.Identities, id)
		}
	}
	return append(diags, checkIdentities(a)...)
}

func decodeAdminTLS(block *hcl.Block, ev *evaluator) (*AdminTLS, hcl.Diagnostics) {
	t := &AdminTLS{DeclRange: block.DefRange}
	content, diags := block.Body.Content(adminTLSSchema)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	d.path("cert_file", &t.CertFile)
	d.path("key_file", &t.KeyFile)
	d.path("client_ca_file", &t.ClientCAFile)
	return t, append(diags, d.diags...)
}

func decodeAudit(block *hcl.Block, ev *evaluator) (*Audit, hcl.Diagnostics) {
	au := &Audit{}
	content, diags := block.Body.Content(auditSchema)
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	if attr := d.string("path", &au.Path); attr != nil {
		switch {
		case au.Path == "":
			d.errorf(attr, "Invalid path", "Attribute \"path\" wants a file path, or \"stderr\" for the host's standard error; got an empty string.")
		case au.Path != AuditStderr:
			au.Path = resolvePath(attr.Range.Filename, au.Path)
		}
	}
	return au, append(diags, d.diags...)
}

// decodeIdentity decodes an identity block. The token attribute is a
// reference, read for its traversal and never evaluated: a credential's
// value is known only while the host runs.
func decodeIdentity(block *hcl.Block, ev *evaluator) (*Identity, hcl.Diagnostics) {
	id := &Identity{Name: block.Labels[0], DeclRange: block.DefRange}
	content, diags := block.Body.Content(identitySchema)
	if !validName(id.Name) {
		diags = append(diags, errorAt(block.LabelRanges[0], "Invalid identity name",
			fmt.Sprintf("An identity's name must start with a letter and hold only letters, digits, underscores and dashes; %q does not.", id.Name)))
	}
	d := &attrDecoder{ev: ev, attrs: content.Attributes}
	hashAttr := d.string("token_sha256", &id.TokenSHA256)
	if hashAttr != nil {
		id.tokenSHA256Range = hashAttr.Expr.Range()
		id.TokenSHA256 = strings.ToLower(id.TokenSHA256)
		if problem := checkSHA256(id.TokenSHA256); problem != "" {
			d.errorf(hashAttr, "Invalid token_sha256",
				"The token's SHA-256 %s; write the 64 hexadecimal characters that \"printf %%s \\\"$TOKEN\\\" | sha256sum\" prints for the token.", problem)
			id.TokenSHA256 = ""
		}
	}
	tokenAttr := content.Attributes["token"]
	if tokenAttr != nil {
		ref, ok := tokenReference(tokenAttr.Expr)
		if !ok {
			diags = append(diags, errorAt(tokenAttr.Expr.Range(), "Invalid token reference",
				"token refers to the attribute of a credential that holds the bearer token, as in token = credential.admin.acme_token. "+
					"To fix the token in the configuration, write its SHA-256 in token_sha256, never the token itself."))
		} else {
			id.Token = &ref
		}
		if hashAttr != nil {
			diags = append(diags, errorAt(tokenAttr.NameRange, "Conflicting token attributes",
				"An identity takes its bearer token from token or from token_sha256, not from both. Remove one of them."))
		}
	}
	if attr := d.strings("client_cert_names", &id.ClientCertNames); attr != nil {
		id.certNamesRange = attr.Expr.Range()
		if slices.Contains(id.ClientCertNames, "") {
			d.errorf(attr, "Invalid client certificate name", "client_cert_names lists an empty name; list the subject common names or DNS names of the client certificates.")
		}
	}
	if attr := d.string("tenant", &id.Tenant); attr != nil {
		id.tenantRange = attr.Expr.Range()
		if id.Tenant == "" {
			d.errorf(attr, "Invalid tenant", "tenant is empty; name the tenant the identity acts for, or omit tenant for an operator that acts for every tenant.")
		}
	}
	id.Allow = []string{PermissionRead}
	if attr := d.strings("allow", &id.Allow); attr != nil {
		id.allowRange = attr.Expr.Range()
		for _, p := range id.Allow {
			if !slices.Contains(permissions, p) {
				d.errorf(attr, "Invalid permission", "allow lists %q, which is not a permission; use %s.%s", p, quoteList(permissions), didYouMean(p, permissions))
			}
		}
		if len(id.Allow) == 0 {
			d.errorf(attr, "Invalid permission", "allow is empty, so the identity may do nothing; list some of %s, or omit allow for %q.", quoteList(permissions), PermissionRead)
		}
	}
	diags = append(diags, d.diags...)
	if hashAttr == nil && tokenAttr == nil && content.Attributes["client_cert_names"] == nil {
		diags = append(diags, errorAt(block.DefRange, "Identity without credentials",
			fmt.Sprintf("Identity %q has no way to authenticate: set token_sha256 or token for a bearer token, or client_cert_names for a client certificate.", id.Name)))
	}
	if id.Tenant != "" && id.Allows(PermissionAdmin) {
		diags = append(diags, errorAt(id.allowRange, "Admin permission of a tenant",
			fmt.Sprintf("Identity %q acts for tenant %q, and the admin permission (plugins, metrics, reload) concerns every tenant; only an identity without a tenant may have it. Remove \"admin\", or remove tenant.", id.Name, id.Tenant)))
	}
	return id, diags
}

// tokenReference returns the credential attribute expr refers to, as
// credential.NAME.ATTR, without evaluating it.
func tokenReference(expr hcl.Expression) (CredentialRef, bool) {
	t, diags := hcl.AbsTraversalForExpr(expr)
	if diags.HasErrors() || len(t) != 3 {
		return CredentialRef{}, false
	}
	return parseCredentialRef(t)
}

// checkIdentities reports what is wrong with the identities as a whole:
// two that share a token or a client certificate name, and client
// certificate names without a client_ca_file to verify certificates with.
func checkIdentities(a *AdminAuth) hcl.Diagnostics {
	var diags hcl.Diagnostics
	hashes := map[string]*Identity{}
	refs := map[CredentialRef]*Identity{}
	certNames := map[string]*Identity{}
	for _, id := range a.Identities {
		if h := id.TokenSHA256; h != "" {
			if first, dup := hashes[h]; dup {
				diags = append(diags, errorAt(id.tokenSHA256Range, "Duplicate token",
					fmt.Sprintf("Identity %q has the token_sha256 of identity %q, declared at %s: a token must name one identity. Give each identity a token of its own.", id.Name, first.Name, pos(first.DeclRange))))
			} else {
				hashes[h] = id
			}
		}
		if id.Token != nil {
			key := CredentialRef{Credential: id.Token.Credential, Attribute: id.Token.Attribute}
			if first, dup := refs[key]; dup {
				diags = append(diags, errorAt(id.Token.Range, "Duplicate token",
					fmt.Sprintf("Identity %q takes its token from credential.%s.%s, as identity %q, declared at %s, does: a token must name one identity. Give each identity a token of its own.",
						id.Name, key.Credential, key.Attribute, first.Name, pos(first.DeclRange))))
			} else {
				refs[key] = id
			}
		}
		if len(id.ClientCertNames) == 0 {
			continue
		}
		if a.TLS == nil || a.TLS.ClientCAFile == "" {
			diags = append(diags, errorAt(id.certNamesRange, "Client certificates not verified",
				fmt.Sprintf("Identity %q names client certificates, but the admin block has no tls block with client_ca_file to verify them against. Add tls { cert_file = ..., key_file = ..., client_ca_file = ... }, or authenticate with a token.", id.Name)))
		}
		for _, n := range id.ClientCertNames {
			if first, dup := certNames[n]; dup && first != id {
				diags = append(diags, errorAt(id.certNamesRange, "Duplicate client certificate name",
					fmt.Sprintf("Identity %q lists the client certificate name %q, which identity %q, declared at %s, lists too: a certificate must name one identity.", id.Name, n, first.Name, pos(first.DeclRange))))
				continue
			}
			certNames[n] = id
		}
	}
	return diags
}
