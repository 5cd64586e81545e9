package mongo

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// defaults is a configuration as the SDK decodes it when only uri and
// database are given: every other attribute at its default.
func defaults(uri string) Config {
	return Config{URI: uri, Database: "d", ReadPreference: defaultReadPreference, AppName: defaultAppName,
		ServerSelectionTimeout: defaultTimeout, ConnectTimeout: defaultTimeout, MaxPoolSize: defaultMaxPoolSize}
}

// A uri's settings stay unless their attributes are given other values
// than their defaults; without a uri the defaults apply.
func TestTheURIsSettingsStayUnlessTheirAttributesAreSet(t *testing.T) {
	uri := "mongodb://127.0.0.1:27017/?maxPoolSize=5&minPoolSize=2&appName=shop&serverSelectionTimeoutMS=1500&connectTimeoutMS=2500&readPreference=secondary"
	o, err := defaults(uri).clientOptions()
	if err != nil {
		t.Fatal(err)
	}
	if *o.MaxPoolSize != 5 || *o.MinPoolSize != 2 || *o.AppName != "shop" || *o.ServerSelectionTimeout != 1500*time.Millisecond ||
		*o.ConnectTimeout != 2500*time.Millisecond || o.ReadPreference.Mode() != readpref.SecondaryMode {
		t.Errorf("the uri's settings were not kept: pool %d-%d, app %q, selection %v, connect %v, read %v",
			*o.MinPoolSize, *o.MaxPoolSize, *o.AppName, *o.ServerSelectionTimeout, *o.ConnectTimeout, o.ReadPreference.Mode())
	}

	c := defaults(uri)
	c.MaxPoolSize, c.MinPoolSize, c.AppName, c.ServerSelectionTimeout, c.ConnectTimeout, c.ReadPreference = 7, 1, "billing", 3*time.Second, 4*time.Second, "nearest"
	if o, err = c.clientOptions(); err != nil {
		t.Fatal(err)
	}
	if *o.MaxPoolSize != 7 || *o.MinPoolSize != 1 || *o.AppName != "billing" || *o.ServerSelectionTimeout != 3*time.Second ||
		*o.ConnectTimeout != 4*time.Second || o.ReadPreference.Mode() != readpref.NearestMode {
		t.Errorf("the attributes did not override the uri's settings")
	}

	c = defaults("")
	c.URI, c.Hosts = "", []string{"127.0.0.1:27017"}
	if o, err = c.clientOptions(); err != nil {
		t.Fatal(err)
	}
	if *o.MaxPoolSize != defaultMaxPoolSize || *o.AppName != defaultAppName || *o.ServerSelectionTimeout != defaultTimeout ||
		o.ReadPreference.Mode() != readpref.PrimaryMode || *o.RetryReads || *o.RetryWrites {
		t.Errorf("hosts without a uri do not get the defaults, or the driver retries")
	}
}

// A write concern is a number of members, "majority" or a tag set's name.
func TestWriteConcernNamesMembersOrTags(t *testing.T) {
	for in, want := range map[string]any{"1": 1, "0": 0, "majority": "majority", "dc-east": "dc-east"} {
		if got := writeConcern(in); got.W != want {
			t.Errorf("write concern %q: W = %#v, want %#v", in, got.W, want)
		}
	}
	if wc := writeConcern(""); wc.W != nil || !wc.Acknowledged() {
		t.Errorf("an empty write concern: %+v", wc)
	}
}
