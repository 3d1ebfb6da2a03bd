// Package address maps Matrix users and rooms to JIDs on the bridge's
// component domain and back, reversibly.
//
// A Matrix ID becomes the localpart of a JID on the domain:
//
//	@alice:example.org       → alice\3aexample.org@matrix.example.org
//	#Room:example.org        → #\52oom\3aexample.org@matrix.example.org
//	!AbC:example.org         → !\41b\43\3aexample.org@matrix.example.org
//
// Users have no sigil; room aliases keep '#' and room IDs '!' as the
// first character. The rest of the ID ("localpart:server") is escaped
// byte by byte: a-z, 0-9 and "-._=+" stay as they are, every other byte
// becomes '\' and two lowercase hex digits. This is XEP-0106 for the
// characters XEP-0106 escapes (space " & ' / : < > @ \ become \20 \22 \26
// \27 \2f \3a \3c \3e \40 \5c, so XMPP clients that unescape show
// "alice:example.org"), extended to uppercase letters and to every other
// byte: JID localparts are case-folded (PRECIS UsernameCaseMapped), while
// Matrix room IDs and aliases are case-sensitive, so an escaped capital
// is the only way back. Escaped text is ASCII, always a valid localpart,
// and unchanged by PRECIS.
//
// Only the canonical form decodes: a '\' not followed by two lowercase
// hex digits, an escaped byte that needs no escape, or a raw byte that
// needs one is an error, so that one Matrix ID has exactly one JID.
package address

import (
	"errors"
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/matrix"
)

// Kind is what a JID on the component stands for.
type Kind int

// Kinds of addresses.
const (
	// User is a Matrix user (no sigil in the JID).
	User Kind = iota + 1
	// Alias is a Matrix room alias ('#').
	Alias
	// RoomID is a Matrix room ID ('!').
	RoomID
)

// ErrNotCanonical reports a localpart that is not the escape of anything.
var ErrNotCanonical = errors.New("not a canonically escaped Matrix ID")

const hexDigits = "0123456789abcdef"

// safe reports whether b stays unescaped.
func safe(b byte) bool {
	return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || strings.IndexByte("-._=+", b) >= 0
}

// Escape returns the escaped form of s (see the package doc).
func Escape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('\\')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}

// Unescape reverses [Escape]; input that Escape cannot produce is
// [ErrNotCanonical].
func Unescape(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			if !safe(c) {
				return "", fmt.Errorf("%w: raw %q at %d", ErrNotCanonical, c, i)
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("%w: truncated escape at %d", ErrNotCanonical, i)
		}
		hi, lo := strings.IndexByte(hexDigits, s[i+1]), strings.IndexByte(hexDigits, s[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%w: bad escape %q at %d", ErrNotCanonical, s[i:i+3], i)
		}
		d := byte(hi<<4 | lo)
		if safe(d) {
			return "", fmt.Errorf("%w: %q needs no escape", ErrNotCanonical, s[i:i+3])
		}
		b.WriteByte(d)
		i += 2
	}
	return b.String(), nil
}

// Localpart returns the JID localpart of a Matrix user ID, room alias or
// room ID (told apart by its sigil). It does not check the ID beyond its
// sigil and a ':' after a non-empty localpart.
func Localpart(id string) (string, error) {
	if len(id) < 4 {
		return "", fmt.Errorf("%q is not a Matrix ID", id)
	}
	sigil, rest := id[0], id[1:]
	if i := strings.IndexByte(rest, ':'); i < 1 || i == len(rest)-1 {
		return "", fmt.Errorf("%q is not a Matrix ID (want %clocalpart:server)", id, sigil)
	}
	switch sigil {
	case '@':
		return Escape(rest), nil
	case '#', '!':
		return string(sigil) + Escape(rest), nil
	}
	return "", fmt.Errorf("%q is not a Matrix user, alias or room ID", id)
}

// Parse returns the Matrix ID and its kind that a JID localpart stands for.
func Parse(localpart string) (Kind, string, error) {
	kind, sigil, rest := User, "@", localpart
	if localpart != "" {
		switch localpart[0] {
		case '#':
			kind, sigil, rest = Alias, "#", localpart[1:]
		case '!':
			kind, sigil, rest = RoomID, "!", localpart[1:]
		}
	}
	id, err := Unescape(rest)
	if err != nil {
		return 0, "", err
	}
	if i := strings.IndexByte(id, ':'); i < 1 || i == len(id)-1 {
		return 0, "", fmt.Errorf("%w: %q has no localpart:server", ErrNotCanonical, id)
	}
	return kind, sigil + id, nil
}

// UserJID returns the bare JID of Matrix user u on domain.
func UserJID(domain jid.JID, u matrix.UserID) (jid.JID, error) { return onDomain(domain, string(u)) }

// AliasJID returns the bare JID of room alias a on domain.
func AliasJID(domain jid.JID, a matrix.RoomAlias) (jid.JID, error) {
	return onDomain(domain, string(a))
}

// RoomIDJID returns the bare JID of room ID r on domain.
func RoomIDJID(domain jid.JID, r matrix.RoomID) (jid.JID, error) { return onDomain(domain, string(r)) }

func onDomain(domain jid.JID, id string) (jid.JID, error) {
	local, err := Localpart(id)
	if err != nil {
		return jid.JID{}, err
	}
	j, err := jid.New(local, domain.Domainpart(), "")
	if err != nil {
		return jid.JID{}, fmt.Errorf("jid of %s: %w", id, err)
	}
	return j, nil
}
