package component

import "testing"

// TestCapsVer: the verification string of XEP-0115 §5.2's example, and
// the one of Matrix users' JIDs stands for features that ask for avatar
// notifications.
func TestCapsVer(t *testing.T) {
	got := capsVer([]Identity{{Category: "client", Type: "pc", Name: "Exodus 0.9.1"}},
		[]string{"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
			"http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps"})
	if want := "QgayPKawpkPSDYmwT/WM94uAlu0="; got != want {
		t.Fatalf("ver %q, want %q", got, want)
	}
	found := false
	for _, f := range UserFeatures() {
		found = found || f == "urn:xmpp:avatar:metadata+notify"
	}
	if !found || UserCapsVer() == "" {
		t.Fatalf("Matrix users' JIDs ask for no avatar notifications: %v", UserFeatures())
	}
}
