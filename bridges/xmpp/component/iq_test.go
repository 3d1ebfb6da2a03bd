package component

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
)

// TestSendIQRefuses: SendIQ sends only IQ requests from the component's
// domain, and only on a session.
func TestSendIQRefuses(t *testing.T) {
	c := New(Options{Domain: jid.MustParse("matrix.test")})
	for i, tc := range []struct {
		raw  string
		want error
	}{
		{`<iq type='result' from='matrix.test' to='x.org'/>`, ErrNotIQ},
		{`<message type='chat' from='matrix.test' to='x.org'/>`, ErrNotIQ},
		{`<iq type='get' from='elsewhere.test' to='x.org'><ping xmlns='urn:xmpp:ping'/></iq>`, ErrBadFrom},
		{`<iq type='get' from='matrix.test' to='x.org'><ping xmlns='urn:xmpp:ping'/></iq>`, ErrNotConnected},
	} {
		_, err := c.SendIQ(context.Background(), xml.NewDecoder(strings.NewReader(tc.raw)))
		if !errors.Is(err, tc.want) {
			t.Errorf("%d: %v, want %v", i, err, tc.want)
		}
	}
}
