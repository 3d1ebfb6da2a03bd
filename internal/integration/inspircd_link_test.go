package integration

import (
	"strings"
	"testing"
)

func TestInspIRCdLinkConfig(t *testing.T) {
	hub := inspircdConfig("127.0.0.1:4567", "/tmp/hub", inspircdOptions{
		serverName: InspIRCdHubName, sid: inspircdHubSID,
		extra: inspircdLinkTags(7001, InspIRCdLeafName, 7002, false),
	})
	leaf := inspircdConfig("127.0.0.1:4568", "/tmp/leaf", inspircdOptions{
		serverName: InspIRCdLeafName, sid: inspircdLeafSID,
		extra: inspircdLinkTags(7002, InspIRCdHubName, 7001, true),
	})
	for i, c := range []struct {
		name, conf string
		want       []string
		not        []string
	}{
		{"hub", hub, []string{
			`<server name="hub.test" id="0HB"`,
			`<bind address="127.0.0.1" port="4567" type="clients">`,
			`<module name="spanningtree">`,
			`<bind address="127.0.0.1" port="7001" type="servers">`,
			`<link name="leaf.test" ipaddr="127.0.0.1" port="7002" allowmask="127.0.0.1/32"`,
			`sendpass="causeway-link" recvpass="causeway-link"`,
		}, []string{"<autoconnect", InspIRCdServerName}},
		{"leaf", leaf, []string{
			`<server name="leaf.test" id="0LF"`,
			`<bind address="127.0.0.1" port="4568" type="clients">`,
			`<bind address="127.0.0.1" port="7002" type="servers">`,
			`<link name="hub.test" ipaddr="127.0.0.1" port="7001"`,
			`<autoconnect period="1s" server="hub.test">`,
		}, []string{InspIRCdServerName}},
	} {
		for _, w := range c.want {
			if !strings.Contains(c.conf, w) {
				t.Errorf("%d %s: config lacks %s:\n%s", i, c.name, w, c.conf)
			}
		}
		for _, n := range c.not {
			if strings.Contains(c.conf, n) {
				t.Errorf("%d %s: config has %s:\n%s", i, c.name, n, c.conf)
			}
		}
	}
}

// The default server keeps its name and lets InspIRCd derive its ID.
func TestInspIRCdConfigDefaultName(t *testing.T) {
	conf := inspircdConfig("127.0.0.1:4567", "/tmp/x", inspircdOptions{})
	if !strings.Contains(conf, `<server name="irc.test" description=`) {
		t.Errorf("default server block changed:\n%s", conf)
	}
}
