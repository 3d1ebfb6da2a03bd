package irc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

func TestEditCorrection(t *testing.T) {
	for i, tc := range []struct {
		old  string
		new  []string
		want []string
	}{
		0: {"the quick brwn fox", []string{"the quick brown fox"}, []string{"* brown"}},
		1: {"hello", []string{"goodbye"}, []string{"* goodbye"}}, // one word only: the whole text
		2: {"a b c", []string{"x b z"}, []string{"* x b z"}},
		3: {"same text", []string{"same text"}, nil},
		4: {"same  text", []string{"same text"}, nil}, // only spacing changed
		5: {"", []string{"unknown original"}, []string{"* unknown original"}},
		6: {"one line", []string{"two", "lines"}, []string{"* two", "lines"}},
		7: {"something", []string{"  "}, nil},
		8: {"short", []string{"a much longer replacement"}, []string{"* a much longer replacement"}},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got := editCorrection(tc.old, tc.new)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("editCorrection(%q, %q) = %q, want %q", tc.old, tc.new, got, tc.want)
			}
		})
	}
}

func TestSentCache(t *testing.T) {
	var s sentCache
	if ok, _ := s.lookup("$x"); ok {
		t.Fatal("unknown event reported delivered")
	}
	s.setContent("$x", &matrix.MessageContent{Body: "never delivered"})
	if ok, _ := s.lookup("$x"); ok {
		t.Fatal("setContent marked an undelivered event as delivered")
	}
	s.markDelivered("$x")
	s.setContent("$x", &matrix.MessageContent{Body: "v2"})
	if ok, c := s.lookup("$x"); !ok || c == nil || c.Body != "v2" {
		t.Fatalf("lookup = %v %+v", ok, c)
	}
	for i := range sentCacheSize {
		s.markDelivered(matrix.EventID(fmt.Sprint("$", i)))
	}
	if ok, _ := s.lookup("$x"); ok {
		t.Fatal("the cache is not bounded: the oldest entry survived")
	}
	if ok, _ := s.lookup(matrix.EventID(fmt.Sprint("$", sentCacheSize-1))); !ok {
		t.Fatal("the newest entry was evicted")
	}
}
