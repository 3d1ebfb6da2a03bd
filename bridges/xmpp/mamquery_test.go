package xmpp

import (
	"encoding/xml"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
)

// mamIQ is a MAM query IQ with the given query content.
func mamIQ(inner string) string {
	return `<iq type='set' id='q' from='alice@x.org/r' to='room@matrix.test'><query xmlns='urn:xmpp:mam:2' queryid='Q'>` + inner + `</query></iq>`
}

// form is a MAM query form with fields (var, value pairs).
func form(fields ...string) string {
	var b strings.Builder
	b.WriteString(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>`)
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, `<field var='%s'><value>%s</value></field>`, fields[i], fields[i+1])
	}
	b.WriteString(`</x>`)
	return b.String()
}

// TestMAMQueryParse: the form fields and RSM set of a MAM query are read
// as XEP-0313 and XEP-0059 say; unknown fields and RSM index are
// feature-not-implemented, malformed values bad-request.
func TestMAMQueryParse(t *testing.T) {
	empty := ""
	before := "$b"
	start := time.Date(2010, 8, 7, 0, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		inner string
		want  archiveQuery
		cond  string
	}{
		0: {"", archiveQuery{QueryID: "Q", Max: mamDefaultPage}, ""},
		1: {form("with", "room@matrix.test/Bob", "start", "2010-08-07T00:00:00Z", "end", "2010-08-07T02:00:00+02:00",
			"before-id", "$x", "after-id", "$y"),
			archiveQuery{QueryID: "Q", With: "room@matrix.test/Bob", Start: start, End: start, BeforeID: "$x", AfterID: "$y", Max: mamDefaultPage}, ""},
		2: {`<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before/></set>`, archiveQuery{QueryID: "Q", Max: 2, Before: &empty}, ""},
		3: {`<set xmlns='http://jabber.org/protocol/rsm'><max>500</max><before>$b</before></set><flip-page/>`,
			archiveQuery{QueryID: "Q", Max: mamMaxPage, Before: &before, Flip: true}, ""},
		4: {`<set xmlns='http://jabber.org/protocol/rsm'><after> $a </after></set>`, archiveQuery{QueryID: "Q", Max: mamDefaultPage, After: "$a"}, ""},
		5: {`<x xmlns='jabber:x:data' type='submit'><field var='ids'><value>$1</value><value>$2</value></field></x>`,
			archiveQuery{QueryID: "Q", Max: mamDefaultPage, IDs: []string{"$1", "$2"}}, ""},
		6:  {form("{urn:example}search", "x"), archiveQuery{}, "feature-not-implemented"},
		7:  {`<set xmlns='http://jabber.org/protocol/rsm'><index>3</index></set>`, archiveQuery{}, "feature-not-implemented"},
		8:  {`<set xmlns='http://jabber.org/protocol/rsm'><max>-1</max></set>`, archiveQuery{}, "bad-request"},
		9:  {`<set xmlns='http://jabber.org/protocol/rsm'><max>x</max></set>`, archiveQuery{}, "bad-request"},
		10: {`<set xmlns='http://jabber.org/protocol/rsm'><before/><after>$a</after></set>`, archiveQuery{}, "bad-request"},
		11: {form("start", "yesterday"), archiveQuery{}, "bad-request"},
		12: {`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>`, archiveQuery{}, "bad-request"},
		13: {`<x xmlns='jabber:x:data' type='form'/>`, archiveQuery{}, "bad-request"},
		14: {`<set xmlns='http://jabber.org/protocol/rsm'><after/></set>`, archiveQuery{}, "bad-request"},
		// Elements of other namespaces are not the query's.
		15: {`<set xmlns='urn:other'><max>1</max></set><x xmlns='urn:other'><field var='bogus'/></x><flip-page xmlns='urn:other'/>`,
			archiveQuery{QueryID: "Q", Max: mamDefaultPage}, ""},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			q, err := parseMAMQuery(parse(t, []byte(mamIQ(c.inner))))
			if c.cond != "" {
				if err == nil || err.Cond != c.cond || err.Text == "" {
					t.Fatalf("error %+v, want %s with a text", err, c.cond)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %+v", err)
			}
			if !reflect.DeepEqual(q, c.want) {
				t.Fatalf("query %+v, want %+v", q, c.want)
			}
		})
	}
	q, err := parseMAMQuery(parse(t, []byte(`<iq><query xmlns='urn:xmpp:mam:2' node='n'/></iq>`)))
	if err == nil || err.Cond != "item-not-found" {
		t.Errorf("a node: %+v %+v", q, err)
	}
}

// FuzzMAMQuery: no query makes the parser panic, and what it accepts is
// within bounds.
func FuzzMAMQuery(f *testing.F) {
	for _, s := range []string{"", form("with", "a@b/c", "start", "2010-08-07T00:00:00Z", "ids", "$1"),
		`<set xmlns='http://jabber.org/protocol/rsm'><max>2</max><before>x</before></set><flip-page/>`,
		`<x xmlns='jabber:x:data'><field var='ids'><value>1</value><value>2</value></field></x>`} {
		f.Add(mamIQ(s))
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, ok := parseStanza(s)
		if !ok {
			return
		}
		q, qerr := parseMAMQuery(st)
		if qerr != nil {
			if qerr.Cond == "" || qerr.Type == "" {
				t.Fatalf("error without a condition: %+v", qerr)
			}
			return
		}
		if q.Max < 0 || q.Max > mamMaxPage || len(q.IDs) > mamMaxIDs || (q.Before != nil && q.After != "") {
			t.Fatalf("out of bounds: %+v", q)
		}
	})
}

// parseStanza is parse without a test: false for input that is not one
// well-formed stanza.
func parseStanza(s string) (*component.Stanza, bool) {
	d := xml.NewDecoder(strings.NewReader(s))
	st := &component.Stanza{}
	for depth := 0; ; {
		tok, err := d.Token()
		if err != nil {
			return nil, false
		}
		tok = xml.CopyToken(tok)
		switch tt := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				st.Start = tt
				depth++
				continue
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 {
				return st, true
			}
		}
		if depth > 0 {
			st.Inner = append(st.Inner, tok)
		}
	}
}
