// Package configtest checks, in a module's tests, that the module's
// section of example-config.yaml shows every key the module reads, each
// with the value the module applies when the key is absent, so the
// documented defaults and the code cannot drift apart.
package configtest

import (
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// CheckSection compares example, a section decoded from example-config.yaml
// (raw), with defaults, the same section decoded from nothing: every field
// with a yaml key must be equal unless its key is in examples (keys whose
// value in the file is an example, not a default: a required domain, an
// environment reference), and every such key must be shown in the
// section at path (for instance "bridges", "xmpp"). Both values are
// structs of the same type with flat fields.
func CheckSection(t *testing.T, raw []byte, path []string, example, defaults any, examples map[string]string) {
	t.Helper()
	got, want := reflect.ValueOf(example), reflect.ValueOf(defaults)
	if got.Type() != want.Type() || got.Kind() != reflect.Struct {
		t.Fatalf("configtest: compare two structs of one type, not %s and %s", got.Type(), want.Type())
	}
	name := strings.Join(path, ".")
	for i := range got.NumField() {
		key := YAMLKey(got.Type().Field(i))
		if _, ok := examples[key]; ok || key == "" {
			continue
		}
		if !reflect.DeepEqual(got.Field(i).Interface(), want.Field(i).Interface()) {
			t.Errorf("%s: example-config.yaml shows %v, but the default is %v", key, got.Field(i), want.Field(i))
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	if len(root.Content) == 0 {
		t.Fatal("example-config.yaml is empty")
	}
	node := root.Content[0]
	for _, p := range path {
		node = Value(node, p)
	}
	shown := map[string]bool{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		shown[node.Content[i].Value] = true
	}
	for i := range got.NumField() {
		if key := YAMLKey(got.Type().Field(i)); key != "" && !shown[key] {
			t.Errorf("example-config.yaml's %s section does not show %s", name, key)
		}
	}
}

// Value returns the value of key in mapping n, or an empty node.
func Value(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return &yaml.Node{}
}

// YAMLKey is the key a struct field is decoded from, or "" for none.
func YAMLKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}
