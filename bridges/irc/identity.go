package irc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/irc/secret"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// webircHost is a user's stable WEBIRC host name:
// "<localpart>.<homeserver>.<suffix>", made DNS-safe.
func webircHost(user matrix.UserID, suffix string) string {
	clean := func(s string) string {
		var b strings.Builder
		for _, r := range strings.ToLower(s) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
				b.WriteRune(r)
			case r == '.' || r == ':':
				b.WriteByte('.')
			default:
				b.WriteByte('-')
			}
		}
		return strings.Trim(b.String(), ".-")
	}
	host := clean(user.Localpart()) + "." + clean(user.Server())
	if suffix != "" {
		host += "." + strings.Trim(suffix, ".")
	}
	return host
}

// webircIP is a stable per-user address in the IPv6 unique-local range, so
// IRC operators can ban one Matrix user without banning the bridge.
func webircIP(user matrix.UserID) string {
	h := sha256.Sum256([]byte(user))
	var a [16]byte
	a[0] = 0xfd
	copy(a[1:], h[:15])
	return netip.AddrFrom16(a).String()
}

// kvSASL is the store key of a user's encrypted SASL credentials.
func kvSASL(network string, user matrix.UserID) string {
	return "sasl:" + network + ":" + string(user)
}

// storedSASL returns the user's stored SASL credentials for the network,
// or nil when none are stored (or they cannot be decrypted: logged).
func (n *network) storedSASL(ctx context.Context, user matrix.UserID) *ircconn.SASL {
	if n.m.box == nil {
		return nil
	}
	raw, err := n.m.store.GetKV(ctx, ID, kvSASL(n.id, user))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		n.log().Warn("reading stored credentials failed", "user", user, "err", err)
		return nil
	}
	plain, err := n.m.box.Open(string(raw), secret.Binding(string(user), n.id))
	if err != nil {
		n.log().Error("stored IRC password cannot be decrypted (wrong password_key?)", "user", user, "err", err)
		return nil
	}
	account, pass, ok := strings.Cut(string(plain), "\x00")
	if !ok {
		return nil
	}
	return &ircconn.SASL{Username: account, Password: pass}
}

// storeSASL encrypts and stores a user's SASL credentials.
func (n *network) storeSASL(ctx context.Context, user matrix.UserID, account, password string) error {
	if n.m.box == nil {
		return errors.New("this bridge has no password_key configured, so it cannot store passwords")
	}
	sealed, err := n.m.box.Seal([]byte(account+"\x00"+password), secret.Binding(string(user), n.id))
	if err != nil {
		return fmt.Errorf("encrypt password: %w", err)
	}
	return n.m.store.PutKV(ctx, ID, kvSASL(n.id, user), []byte(sealed))
}
