package mongo

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/nebula-resource/nebula-resource/sdk"
)

// The defaults of the attributes that a uri's setting may take the place
// of (clientOptions).
const (
	defaultReadPreference = "primary"
	defaultAppName        = "nebula-resource"
	defaultTimeout        = 10 * time.Second
	defaultMaxPoolSize    = 100
)

// Validate checks the configuration without connecting: the host
// reports each error at the attribute it names.
func (c Config) Validate() error {
	_, err := c.clientOptions()
	return err
}

// clientOptions builds the driver's client options, or the
// configuration's errors, which never hold a secret.
func (c Config) clientOptions() (*options.ClientOptions, error) {
	var errs []error
	add := func(attr, summary, detail string) {
		errs = append(errs, sdk.AttributeError(attr, summary, detail))
	}
	o := options.Client()
	switch {
	case c.URI != "" && len(c.Hosts) > 0:
		add("hosts", "goes with uri", "Give the servers in uri or in hosts, not both.")
	case c.URI != "":
		cs, err := connstring.Parse(c.URI)
		if err != nil {
			// The driver's message may quote the string, credentials and all.
			add("uri", "is not a MongoDB connection string", sdk.Redact(err, c.secrets()...).Error())
		} else {
			o.ApplyURI(cs.Original)
		}
	case len(c.Hosts) == 0:
		add("uri", "is missing", "Give uri (mongodb://host:27017) or hosts ([\"host:27017\"]).")
	default:
		for _, h := range c.Hosts {
			if problem := hostProblem(h); problem != "" {
				add("hosts", "holds "+strconv.Quote(h), problem)
			}
		}
		o.SetHosts(c.Hosts)
	}
	if c.Database == "" || strings.ContainsAny(c.Database, "/\\. \"$\x00") {
		add("database", "is not a database name", "A database's name is not empty and has none of / \\ . space \" $.")
	}
	if c.Username != "" || c.Password != "" || c.AuthMechanism != "" || c.AuthSource != "" {
		cred := options.Credential{
			Username: c.Username, Password: c.Password, PasswordSet: c.Password != "",
			AuthSource: c.AuthSource, AuthMechanism: c.AuthMechanism,
		}
		if o.Auth != nil { // the uri's, which the attributes override
			cred = mergeCredential(*o.Auth, cred)
		}
		o.SetAuth(cred)
	}
	if c.ReplicaSet != "" {
		o.SetReplicaSet(c.ReplicaSet)
	}
	if c.Direct {
		o.SetDirect(true)
	}
	tlsConfig, tlsErrs := sdk.ClientTLS{
		Enabled: c.TLS || c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSServerName != "",
		CAFile:  c.TLSCAFile, CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile, ServerName: c.TLSServerName,
	}.Config()
	errs = append(errs, tlsErrs...)
	if tlsConfig != nil {
		o.SetTLSConfig(tlsConfig)
	}
	if mode, err := readpref.ModeFromString(c.ReadPreference); err != nil || mode == readpref.Mode(0) {
		add("read_preference", "is "+strconv.Quote(c.ReadPreference), "Want primary, primaryPreferred, secondary, secondaryPreferred or nearest.")
	} else if rp, err := readpref.New(mode); err == nil && (o.ReadPreference == nil || c.ReadPreference != defaultReadPreference) {
		o.SetReadPreference(rp)
	}
	switch c.ReadConcern {
	case "":
	case "local", "available", "majority", "linearizable", "snapshot":
		o.SetReadConcern(&readconcern.ReadConcern{Level: c.ReadConcern})
	default:
		add("read_concern", "is "+strconv.Quote(c.ReadConcern), "Want local, available, majority, linearizable or snapshot, or \"\" for the server's default.")
	}
	if c.WriteConcern != "" || c.Journal {
		wc := writeConcern(c.WriteConcern)
		if c.Journal {
			j := true
			wc.Journal = &j
		}
		if n, err := strconv.Atoi(c.WriteConcern); err == nil && n < 0 {
			add("write_concern", "is negative", "Want \"majority\", a number of members (0 or more) or a tag set's name.")
		}
		o.SetWriteConcern(wc)
	}
	// A setting the uri gives is kept unless its attribute is given
	// another value than its default.
	if o.AppName == nil || c.AppName != defaultAppName {
		o.SetAppName(c.AppName)
	}
	for _, d := range []struct {
		attr   string
		set    func()
		ok     bool
		theURI bool // the uri gives it and the attribute is at its default
	}{
		{"server_selection_timeout", func() { o.SetServerSelectionTimeout(c.ServerSelectionTimeout) }, c.ServerSelectionTimeout > 0,
			o.ServerSelectionTimeout != nil && c.ServerSelectionTimeout == defaultTimeout},
		{"connect_timeout", func() { o.SetConnectTimeout(c.ConnectTimeout) }, c.ConnectTimeout > 0,
			o.ConnectTimeout != nil && c.ConnectTimeout == defaultTimeout},
	} {
		switch {
		case !d.ok:
			add(d.attr, "must be more than 0s", "")
		case !d.theURI:
			d.set()
		}
	}
	switch {
	case c.Timeout < 0:
		add("timeout", "must not be negative", "0s leaves each operation to its call's deadline.")
	case c.Timeout > 0:
		o.SetTimeout(c.Timeout)
	}
	switch {
	case c.MaxPoolSize < 0:
		add("max_pool_size", "must not be negative", "0 means no limit.")
	case c.MinPoolSize < 0:
		add("min_pool_size", "must not be negative", "")
	case c.MaxPoolSize > 0 && c.MinPoolSize > c.MaxPoolSize:
		add("min_pool_size", "is more than max_pool_size", "")
	default:
		if o.MaxPoolSize == nil || c.MaxPoolSize != defaultMaxPoolSize {
			o.SetMaxPoolSize(uint64(c.MaxPoolSize))
		}
		if o.MinPoolSize == nil || c.MinPoolSize != 0 {
			o.SetMinPoolSize(uint64(c.MinPoolSize))
		}
	}
	if c.MaxConnIdleTime < 0 {
		add("max_conn_idle_time", "must not be negative", "0s keeps idle connections.")
	} else if c.MaxConnIdleTime > 0 {
		o.SetMaxConnIdleTime(c.MaxConnIdleTime)
	}
	for _, comp := range c.Compressors {
		switch comp {
		case "snappy", "zlib", "zstd":
		default:
			add("compressors", "holds "+strconv.Quote(comp), "Want snappy, zlib or zstd.")
		}
	}
	if len(c.Compressors) > 0 {
		o.SetCompressors(c.Compressors)
	}
	// Retrying is the host's policy (driver.go).
	o.SetRetryReads(false)
	o.SetRetryWrites(false)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := o.Validate(); err != nil {
		return nil, sdk.WrapError(sdk.KindInvalidArgument, sdk.Redact(err, c.secrets()...), "mongo configuration")
	}
	return o, nil
}

// mergeCredential overrides the uri's credential with the attributes
// that are set.
func mergeCredential(uri, attrs options.Credential) options.Credential {
	if attrs.Username != "" {
		uri.Username = attrs.Username
	}
	if attrs.PasswordSet {
		uri.Password, uri.PasswordSet = attrs.Password, true
	}
	if attrs.AuthSource != "" {
		uri.AuthSource = attrs.AuthSource
	}
	if attrs.AuthMechanism != "" {
		uri.AuthMechanism = attrs.AuthMechanism
	}
	return uri
}

// hostProblem says what is wrong with a host of hosts, or "".
func hostProblem(h string) string {
	host, port, err := net.SplitHostPort(h)
	switch {
	case err != nil:
		return `Write it as "host:port", e.g. "127.0.0.1:27017".`
	case host == "":
		return "The host is missing."
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "The port must be a number from 1 to 65535."
	}
	return ""
}

// secrets are the strings that must never appear in an error message:
// the password, and the uri's password and the uri itself when it holds
// one.
func (c Config) secrets() []string {
	var s []string
	if strings.TrimSpace(c.Password) != "" {
		s = append(s, c.Password)
	}
	if u, err := url.Parse(c.URI); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			s = append(s, c.URI, p)
			if _, esc, ok := strings.Cut(u.User.String(), ":"); ok && esc != p { // as the uri spells it
				s = append(s, esc)
			}
		}
	}
	if c.URI != "" && strings.Contains(c.URI, "@") {
		// A uri that url.Parse refuses may still hold credentials.
		if at := strings.LastIndex(c.URI, "@"); at > 0 {
			s = append(s, c.URI, c.URI[:at])
		}
	}
	return s
}

// writeConcern is the write concern a write_concern setting names: a
// number of members ("1"), "majority" or a tag set's name; none for "".
func writeConcern(w string) *writeconcern.WriteConcern {
	if n, err := strconv.Atoi(w); err == nil {
		return &writeconcern.WriteConcern{W: n}
	}
	if w == "" {
		return &writeconcern.WriteConcern{}
	}
	return &writeconcern.WriteConcern{W: w} // "majority" or a tag set
}
