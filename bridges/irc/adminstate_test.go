package irc

import (
	"reflect"
	"testing"
)

func TestAdminStateZeroValuesReady(t *testing.T) {
	var p nickPrefs
	if _, ok := p.get("@a:x"); ok {
		t.Error("empty nickPrefs has a nick")
	}
	p.set("@a:x", "")
	if nick, ok := p.get("@a:x"); !ok || nick != "" {
		t.Errorf("nickPrefs.get = %q, %v; want \"\", true", nick, ok)
	}

	var w nickWaits
	ch, other := make(chan nickResult), make(chan nickResult)
	w.add("@a:x", ch)
	w.remove("@a:x", other) // not the waiter: kept
	if got := w.take("@a:x"); got != ch {
		t.Error("nickWaits.take did not return the waiter")
	}
	if w.take("@a:x") != nil {
		t.Error("nickWaits.take twice returned a waiter")
	}

	var mw monitorWaits
	mw.set("@a:x", "alice")
	if want, ok := mw.take("@a:x"); !ok || want != "alice" {
		t.Errorf("monitorWaits.take = %q, %v", want, ok)
	}
	if _, ok := mw.get("@a:x"); ok {
		t.Error("monitorWaits.take left the wait")
	}

	var pr plumbRequests
	if !pr.add("#c", &plumbRequest{channel: "#C"}) || pr.add("#c", &plumbRequest{channel: "#C"}) {
		t.Error("plumbRequests.add: want true, then false")
	}
	if got := pr.channels(); !reflect.DeepEqual(got, []string{"#C"}) {
		t.Errorf("plumbRequests.channels = %v", got)
	}
	pr.remove("#c")
	if pr.get("#c") != nil {
		t.Error("plumbRequests.remove kept the request")
	}
}

func TestBotCommandsTable(t *testing.T) {
	for i, tc := range []struct {
		cmd       string
		minParams int
		run       any
	}{
		{"PRIVMSG", 2, botPrivmsg},
		{"NOTICE", 2, botPrivmsg},
		{"MODE", 2, botMode},
		{"353", 4, botNamReply},
		{"324", 3, botChannelModes},
		{"FAIL", 0, botFail},
	} {
		c, ok := botCommands[tc.cmd]
		if !ok || c.minParams != tc.minParams || reflect.ValueOf(c.run).Pointer() != reflect.ValueOf(tc.run).Pointer() {
			t.Errorf("%d: botCommands[%q] = %+v, %v", i, tc.cmd, c.minParams, ok)
		}
	}
	for _, code := range []string{"403", "405", "471", "473", "474", "475", "476", "477", "489"} {
		c := botCommands[code]
		if c.minParams != 2 || reflect.ValueOf(c.run).Pointer() != reflect.ValueOf(botJoinFailed).Pointer() {
			t.Errorf("JOIN failure %s is not handled by botJoinFailed with 2 parameters", code)
		}
	}
	if _, ok := botCommands["311"]; ok {
		t.Error("WHOIS replies must reach botOther")
	}
}
