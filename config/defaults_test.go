package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// coreExamples are the keys of the core sections whose value in
// example-config.yaml is an example, not a default. Every other key of
// homeserver, appservice, database and logging must show its default there.
var coreExamples = map[string]string{
	"homeserver.url":         "required: where your homeserver is",
	"homeserver.server_name": "required: your homeserver's name",
	"appservice.admins":      "no admins by default; the example shows the form of an entry",
	// Derived from homeserver.url, an example: TestPublicURLDefault
	// checks that the file shows its default all the same.
	"homeserver.public_url": "defaults to homeserver.url",
	// The bridge sets the bot's display name only when one is configured.
	"appservice.bot_displayname": "empty by default (the name is left as it is)",
}

// emptyCore is a configuration with only the required keys, set to values
// other than the example's so that an example key missing from
// coreExamples fails the comparison.
const emptyCore = `
homeserver:
  url: https://matrix.example.net
  server_name: example.net
`

// TestExampleConfigCoreDefaults: every key of the core sections that
// example-config.yaml shows with a default value has that value when the
// file leaves the key out, so the documentation and the code cannot drift.
func TestExampleConfigCoreDefaults(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	example, err := Load("../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	empty, err := Parse([]byte(emptyCore), "empty", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sec := range []struct {
		name      string
		got, want any
	}{
		0: {"homeserver", example.Homeserver, empty.Homeserver},
		1: {"appservice", example.Appservice, empty.Appservice},
		2: {"database", example.Database, empty.Database},
		3: {"logging", example.Logging, empty.Logging},
	} {
		compareDefaults(t, sec.name, reflect.ValueOf(sec.got), reflect.ValueOf(sec.want), coreExamples, seen)
	}
	for k := range coreExamples {
		if !seen[k] {
			t.Errorf("coreExamples lists %s, which is no key of the core sections", k)
		}
	}
}

// TestExampleConfigShowsEveryCoreKey: every key of the core sections is in
// example-config.yaml (a key left out would be compared with itself by
// TestExampleConfigCoreDefaults and prove nothing).
func TestExampleConfigShowsEveryCoreKey(t *testing.T) {
	raw, err := os.ReadFile("../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[Config]()
	for _, sec := range []string{"homeserver", "appservice", "database", "logging"} {
		f, ok := fieldByKey(typ, sec)
		if !ok {
			t.Fatalf("Config has no %s section", sec)
		}
		node := mappingValue(root.Content[0], sec)
		if node == nil {
			t.Errorf("example-config.yaml has no %s section", sec)
			continue
		}
		for i := range f.Type.NumField() {
			key := yamlKey(f.Type.Field(i))
			if key != "" && mappingValue(node, key) == nil {
				t.Errorf("example-config.yaml does not show %s.%s", sec, key)
			}
		}
	}
}

// TestExplicitValuesKept: a key set in the file keeps its value, including
// one equal to the zero value where it means something.
func TestExplicitValuesKept(t *testing.T) {
	doc := minimal + "  ephemeral_sync: true\nappservice:\n  ack_body: json\n  id: other\nlogging:\n  level: debug\n"
	c, err := Parse([]byte(doc), "c", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Homeserver.EphemeralSync || c.Appservice.AckBody != "json" || c.Appservice.ID != "other" ||
		c.Logging.Level != "debug" || c.Logging.Format != DefaultLogFormat {
		t.Fatalf("got %+v", c)
	}
}

// TestPublicURLDefault: homeserver.public_url defaults to homeserver.url
// (example-config.yaml shows that default), a value the file sets is kept,
// and one that is no http(s) URL is refused naming the key.
func TestPublicURLDefault(t *testing.T) {
	example, err := Load("../example-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if example.Homeserver.PublicURL != example.Homeserver.URL {
		t.Errorf("example-config.yaml shows public_url %q, but its default is url %q", example.Homeserver.PublicURL, example.Homeserver.URL)
	}
	tests := []struct {
		extra, want, err string
	}{
		0: {"", "http://127.0.0.1:8008", ""},
		1: {"  public_url: \"\"\n", "http://127.0.0.1:8008", ""},
		2: {"  public_url: https://matrix.example.org/\n", "https://matrix.example.org/", ""},
		3: {"  public_url: matrix.example.org\n", "", `homeserver.public_url "matrix.example.org" must be an http(s) URL`},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c, err := Parse([]byte(minimal+tt.extra), "c", env(nil))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Homeserver.PublicURL != tt.want {
				t.Fatalf("public_url = %q, want %q", c.Homeserver.PublicURL, tt.want)
			}
		})
	}
}

// compareDefaults reports each key under path where got (decoded from
// example-config.yaml) differs from want (decoded from an empty section),
// skipping the keys in examples and recording in seen the ones it met.
// Nil and empty maps and slices are equal.
func compareDefaults(t *testing.T, path string, got, want reflect.Value, examples map[string]string, seen map[string]bool) {
	t.Helper()
	if _, ok := examples[path]; ok {
		seen[path] = true
		return
	}
	switch got.Kind() {
	case reflect.Struct:
		for i := range got.NumField() {
			key := yamlKey(got.Type().Field(i))
			if key == "" {
				continue
			}
			compareDefaults(t, path+"."+key, got.Field(i), want.Field(i), examples, seen)
		}
		return
	case reflect.Pointer:
		if !got.IsNil() && !want.IsNil() {
			compareDefaults(t, path, got.Elem(), want.Elem(), examples, seen)
			return
		}
	case reflect.Map, reflect.Slice:
		if got.Len() == 0 && want.Len() == 0 {
			return
		}
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		t.Errorf("%s: example-config.yaml shows %v, but the default is %v", path, got.Interface(), want.Interface())
	}
}

// yamlKey is the key a struct field is decoded from, or "" for none.
func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

// fieldByKey finds the field of t decoded from key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if yamlKey(t.Field(i)) == key {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}
