package irc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/ircconn"
	"github.com/causewaybridge/causeway/bridges/irc/secret"
	"github.com/causewaybridge/causeway/matrix"
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

// errStoredPassword means the user stored a password (!storepass) that
// cannot be used: the bridge lost its password_key, the key changed, or
// the store could not be read. Connecting without it would not be what the
// user asked for, so the connection is not made (SASL fails closed), and
// it is not retried in the background.
var errStoredPassword = errors.New("your stored IRC password cannot be used")

// storedSASL returns the user's stored SASL credentials for the network,
// nil when none are stored. A stored password that cannot be read or
// decrypted is an error wrapping [errStoredPassword]: the caller must not
// connect without it. The user is told once in their admin room what
// happened and what to do.
func (n *network) storedSASL(ctx context.Context, user matrix.UserID) (*ircconn.SASL, error) {
	raw, err := n.m.kv.Get(ctx, kvSASL(n.id, user))
	if errors.Is(err, bridges.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		n.log().Error("reading stored credentials failed; not connecting without them", "user", user, "err", err)
		n.tellPasswordTrouble(ctx, user, "could not be read from the bridge's database, so I did not connect you without it. "+
			"I will try again when you next send a message; if this persists, tell the bridge operator.")
		return nil, fmt.Errorf("%w: it could not be read: %w", errStoredPassword, err)
	}
	if n.m.box == nil {
		n.log().Error("a stored IRC password exists but no password_key is configured; not connecting without it", "user", user)
		n.tellPasswordTrouble(ctx, user, "cannot be decrypted: the bridge no longer has a password_key configured. "+
			"I did not connect you without it. Ask the bridge operator to configure password_key again, "+
			"or send !removepass to connect without a password.")
		return nil, fmt.Errorf("%w: no password_key is configured", errStoredPassword)
	}
	plain, err := n.m.box.Open(string(raw), secret.Binding(string(user), n.id))
	if err != nil {
		n.log().Error("stored IRC password cannot be decrypted (wrong password_key?); not connecting without it", "user", user, "err", err)
		n.tellPasswordTrouble(ctx, user, "cannot be decrypted: the bridge's password_key has changed. "+
			"I did not connect you without it. Send !storepass with your password again, "+
			"or ask the bridge operator to list the previous key in old_password_keys.")
		return nil, fmt.Errorf("%w: it cannot be decrypted", errStoredPassword)
	}
	account, pass, ok := strings.Cut(string(plain), "\x00")
	if !ok {
		n.log().Error("stored IRC password is malformed; not connecting without it", "user", user)
		n.tellPasswordTrouble(ctx, user, "is damaged. I did not connect you without it. Send !storepass with your password again.")
		return nil, fmt.Errorf("%w: it is malformed", errStoredPassword)
	}
	return &ircconn.SASL{Username: account, Password: pass}, nil
}

// tellPasswordTrouble tells user, once until they store a new password,
// that their stored password for the network cannot be used and why.
func (n *network) tellPasswordTrouble(ctx context.Context, user matrix.UserID, why string) {
	if !n.dlv.firstPasswordTell(user) {
		return
	}
	n.m.tellUser(ctx, user, fmt.Sprintf("Your stored IRC password for %s %s", n.cfg.Name, why))
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
	if err := n.m.kv.Put(ctx, kvSASL(n.id, user), []byte(sealed)); err != nil {
		return err
	}
	n.dlv.forgetPasswordTell(user)
	return nil
}
