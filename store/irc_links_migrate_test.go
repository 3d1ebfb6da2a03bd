package store_test

import (
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/store"
	"github.com/causewaybridge/causeway/store/storetest"
)

// TestIRCLinksUpgradeFromVersion4: version 5 gives the IRC module's
// message links the remote IDs of bridges.MessageID ("msgid:X" becomes
// "X", "sentline:X" becomes X, a tab and part 1) and the pending outbox
// items' links too; other modules' links, and delivered items, are left
// as they were.
func TestIRCLinksUpgradeFromVersion4(t *testing.T) {
	const (
		oldLink = `{"kind":"message","room":"!r:x","link_module":"irc","link_remote":"msgid:p1","module":"irc"}`
		newLink = `{"kind":"message","room":"!r:x","link_module":"irc","link_remote":"p1","module":"irc"}`
		other   = `{"kind":"message","room":"!r:x","link_module":"xmpp","link_remote":"msgid:p2"}`
	)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := b.dsn(t)
			db, err := store.OpenAtVersion(ctx, dsn, 4)
			if err != nil {
				t.Fatalf("create version 4 schema: %v", err)
			}
			for _, q := range []string{
				`INSERT INTO message_link (module, remote_id, room_id, event_id) VALUES ('irc', 'msgid:a', '!r:x', '$multi')`,
				`INSERT INTO message_link (module, remote_id, room_id, event_id) VALUES ('irc', 'sentline:b', '!r:x', '$multi')`,
				`INSERT INTO message_link (module, remote_id, room_id, event_id) VALUES ('irc', 'msgid:c', '!r:x', '$one')`,
				`INSERT INTO message_link (module, remote_id, room_id, event_id) VALUES ('other', 'msgid:a', '!r:x', '$other')`,
			} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("fill version 4 schema: %s: %v", q, err)
				}
			}
			for _, it := range []struct {
				key, payload string
				state        int
			}{{"pending", oldLink, 0}, {"sent", oldLink, 1}, {"xmpp", other, 0}} {
				if _, err := db.ExecContext(ctx, `INSERT INTO outbox (queue, dedupe_key, payload, created_us, state) VALUES ('!r:x', $1, $2, 1700000000000000, $3)`,
					it.key, []byte(it.payload), it.state); err != nil {
					t.Fatalf("fill version 4 outbox: %v", err)
				}
			}
			db.Close()

			s := storetest.OpenDSN(t, dsn)
			if v, err := store.SchemaVersionOf(ctx, s); err != nil || v < 5 {
				t.Fatalf("schema version after Open = %d, %v; want >= 5", v, err)
			}
			for remote, event := range map[string]string{"a": "$multi", "b\t1": "$multi", "c": "$one"} {
				if l, err := s.MessageByRemote(ctx, "irc", remote); err != nil || l.EventID != event {
					t.Errorf("irc link %q after upgrade = %+v, %v; want event %s", remote, l, err, event)
				}
			}
			for _, remote := range []string{"msgid:a", "sentline:b", "msgid:c"} {
				if l, err := s.MessageByRemote(ctx, "irc", remote); err == nil {
					t.Errorf("old irc link %q still there after upgrade: %+v", remote, l)
				}
			}
			if l, err := s.MessageByRemote(ctx, "other", "msgid:a"); err != nil || l.EventID != "$other" {
				t.Errorf("another module's link after upgrade = %+v, %v", l, err)
			}
			pending, err := s.PendingOutbox(ctx, 10)
			if err != nil || len(pending) != 2 {
				t.Fatalf("pending after upgrade = %+v, %v; want 2 items", pending, err)
			}
			for _, p := range pending {
				want := map[string]string{"pending": newLink, "xmpp": other}[p.Key]
				if string(p.Payload) != want {
					t.Errorf("pending item %s after upgrade = %s, want %s", p.Key, p.Payload, want)
				}
			}
			raw, err := store.OpenAtVersion(ctx, dsn, 5) // migrated already: only opens it
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var sent []byte
			if err := raw.QueryRowContext(ctx, `SELECT payload FROM outbox WHERE dedupe_key = 'sent'`).Scan(&sent); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(sent), `"msgid:p1"`) {
				t.Errorf("delivered item after upgrade = %s, want it unchanged", sent)
			}
		})
	}
}
