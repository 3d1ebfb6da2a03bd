//go:build integration

package component_test

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/internal/integration"
)

// TestIntegrationComponentSendIQ: the component asks Prosody's MUC
// service for its disco#info and gets the answer (a conference service);
// a query to a JID that does not exist gets its error answer, not a
// timeout.
func TestIntegrationComponentSendIQ(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t)
	c, _ := startComponent(t, p, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	from := p.ComponentDomain()
	ask := func(to string) *component.Stanza {
		t.Helper()
		st, err := c.SendIQ(ctx, decode(`<iq type='get' from='`+from+`' to='`+to+`'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`))
		if err != nil {
			t.Fatalf("SendIQ to %s: %v", to, err)
		}
		return st
	}
	st := ask(integration.ProsodyMUC)
	if st.Attr("type") != "result" || !identity(st, "conference") {
		t.Fatalf("disco#info of the MUC service: type %q, %+v", st.Attr("type"), st.Inner)
	}
	if st := ask("nobody@" + integration.ProsodyHost + "/x"); st.Attr("type") != "error" {
		t.Fatalf("disco#info of a missing resource: type %q", st.Attr("type"))
	}
}

// identity reports whether st has a disco identity of category.
func identity(st *component.Stanza, category string) bool {
	for _, tok := range st.Inner {
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "identity" {
			for _, a := range se.Attr {
				if a.Name.Local == "category" && a.Value == category {
					return true
				}
			}
		}
	}
	return false
}

func decode(raw string) xml.TokenReader { return xml.NewDecoder(strings.NewReader(raw)) }
