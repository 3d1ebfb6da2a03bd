package integration

import (
	"strings"
	"testing"
)

func TestInspIRCdConfig(t *testing.T) {
	conf := inspircdConfig("127.0.0.1:4567", "/tmp/x", inspircdOptions{extra: []string{`<module name="chanhistory">`}})
	for _, want := range []string{
		`<bind address="127.0.0.1" port="4567" type="clients">`,
		`resolvehostnames="no" useident="no"`,
		`fakelag="no"`,
		`<module name="ircv3_echomessage">`,
		`<module name="chanhistory">`,
		`target="/tmp/x/ircd.log"`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %s:\n%s", want, conf)
		}
	}
	bare := inspircdConfig("127.0.0.1:4567", "/tmp/x", inspircdOptions{noModules: true})
	if strings.Contains(bare, "<module") {
		t.Errorf("WithoutIRCv3 config loads modules:\n%s", bare)
	}
}
