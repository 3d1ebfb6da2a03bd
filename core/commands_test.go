package core

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/matrix"
)

// echoCommand returns a command that replies "<module>.<name> <args>".
func echoCommand(module, name string, adminOnly bool, subs ...string) bridges.Command {
	return bridges.Command{Name: name, Help: module + "'s " + name, AdminOnly: adminOnly, Subcommands: subs,
		Run: func(_ context.Context, c *bridges.CommandContext) (string, error) {
			return module + "." + name + " " + strings.Join(c.Args, ","), nil
		}}
}

// newCommandRouter returns a router of three modules: "irc" has a command
// named "irc" (with subcommands link and unlink) besides "link" and
// "nick"; "xmpp" also has "nick" and "link"; "other" has "roster" and a
// command named like the module "irc".
func newCommandRouter(t *testing.T) (*Router, *fakeActions) {
	t.Helper()
	irc := &fakeModule{id: "irc", cmds: []bridges.Command{echoCommand("irc", "irc", false, "link", "unlink"),
		echoCommand("irc", "link", true), echoCommand("irc", "nick", false), echoCommand("irc", "whois", false)}}
	xmpp := &fakeModule{id: "xmpp", cmds: []bridges.Command{echoCommand("xmpp", "nick", false), echoCommand("xmpp", "link", false)}}
	other := &fakeModule{id: "other", cmds: []bridges.Command{echoCommand("other", "roster", false), echoCommand("other", "irc", false)}}
	acts := &fakeActions{}
	r, err := newRouter(slog.New(slog.NewTextHandler(io.Discard, nil)), "@bot:hs", []string{"@admin:hs"},
		[]bridges.Module{irc, other, xmpp}, fakePortals{}, acts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r, acts
}

// TestRouterCommandDispatch: a unique name runs alone; a module's ID in
// front picks its command; an ambiguous name answers with the choices; a
// command named like its module keeps its own subcommands ("!irc link").
func TestRouterCommandDispatch(t *testing.T) {
	for i, tc := range []struct {
		sender, line, want string
	}{
		0:  {"@u:hs", "!whois bob", "irc.whois bob"},
		1:  {"@u:hs", "!roster", "other.roster "},
		2:  {"@u:hs", "!irc nick bob", "irc.nick bob"},
		3:  {"@u:hs", "!XMPP Nick bob", "xmpp.nick bob"},
		4:  {"@u:hs", "!nick bob", "Several bridges have a command !nick: send !irc nick or !xmpp nick."},
		5:  {"@u:hs", "!irc link #chan", "irc.irc link,#chan"},     // the irc command's subcommand, not !link
		6:  {"@u:hs", "!irc unlink", "irc.irc unlink"},             // likewise
		7:  {"@u:hs", "!irc irc link #chan", "irc.irc link,#chan"}, // the prefix form, spelt out
		8:  {"@u:hs", "!irc", "irc.irc "},                          // its usage
		9:  {"@u:hs", "!irc bogus", "irc.irc bogus"},               // likewise
		10: {"@u:hs", "!other irc", "other.irc "},                  // another module's command named like a module
		11: {"@u:hs", "!xmpp link x", "xmpp.link x"},
		12: {"@u:hs", "!link x", "Several bridges have a command !link: send !irc link or !xmpp link."},
		13: {"@u:hs", "!xmpp whois bob", "Unknown command !xmpp whois. Send !help for the list."},
		14: {"@u:hs", "!nope", "Unknown command !nope. Send !help for the list."},
		15: {"@u:hs", "!xmpp", "Commands of xmpp:\n!xmpp link: xmpp's link\n!xmpp nick: xmpp's nick"},
		16: {"@admin:hs", "!irc link", "irc.irc link"},
	} {
		r, acts := newCommandRouter(t)
		err := r.HandleEvent(t.Context(), ev("$c", matrix.EventMessage, "!room:hs", tc.sender, nil, map[string]any{"msgtype": "m.text", "body": tc.line}))
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if len(acts.notices) != 1 || acts.notices[0] != tc.want {
			t.Errorf("%d: %s answered %q, want %q", i, tc.line, acts.notices, tc.want)
		}
	}
}

// TestRouterHelpGroupsByModule: !help lists each module's commands under
// its ID, in module order, showing the module in front of names that need
// it; admin-only commands only for admins.
func TestRouterHelpGroupsByModule(t *testing.T) {
	r, _ := newCommandRouter(t)
	got := r.commands.help(false)
	want := "Commands:\n!help: this list (a bridge's name first picks its command: !<bridge> <command>)" +
		"\n\nirc:\n!irc: irc's irc\n!irc nick: irc's nick\n!whois: irc's whois" +
		"\n\nother:\n!other irc: other's irc\n!roster: other's roster" +
		"\n\nxmpp:\n!xmpp link: xmpp's link\n!xmpp nick: xmpp's nick"
	if got != want {
		t.Errorf("help for a user:\n%s\nwant:\n%s", got, want)
	}
	if admin := r.commands.help(true); !strings.Contains(admin, "\n!irc link: irc's link\n!irc nick") {
		t.Errorf("help for an admin lacks the admin-only !irc link:\n%s", admin)
	}
}
