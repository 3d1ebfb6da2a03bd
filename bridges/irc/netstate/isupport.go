package netstate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/causewaybridge/causeway/bridges/irc/ircfmt"
)

// Defaults used until the server's RPL_ISUPPORT says otherwise (RFC 1459
// behaviour, as servers that advertise nothing expect).
const (
	DefaultPrefix    = "(ov)@+"
	DefaultChanModes = "beI,k,l,imnpst"
	DefaultChanTypes = "#&"
)

// maxPrefixModes is the number of prefix modes a member's bit set can hold.
const maxPrefixModes = 8

// ErrISupport is wrapped by errors about malformed ISUPPORT values.
var ErrISupport = errors.New("netstate: malformed ISUPPORT value")

// ChanModes is the CHANMODES ISUPPORT token split by type: A (list modes,
// always with a parameter, such as +b), B (always a parameter, such as +k),
// C (a parameter only when set, such as +l) and D (no parameter).
type ChanModes struct {
	A, B, C, D string
}

// ParseChanModes parses a CHANMODES value such as "beI,k,l,imnpst". Types
// after the fourth are ignored, as the specification asks.
func ParseChanModes(v string) (ChanModes, error) {
	parts := strings.Split(v, ",")
	if len(parts) < 4 {
		return ChanModes{}, fmt.Errorf("CHANMODES %q: want 4 types: %w", v, ErrISupport)
	}
	for _, p := range parts[:4] {
		if !modeLetters(p) {
			return ChanModes{}, fmt.Errorf("CHANMODES %q: %w", v, ErrISupport)
		}
	}
	return ChanModes{A: parts[0], B: parts[1], C: parts[2], D: parts[3]}, nil
}

// modeType is the CHANMODES type of a mode letter.
type modeType uint8

const (
	typeD modeType = iota // no parameter (also unknown modes)
	typeA
	typeB
	typeC
	typePrefix
)

func (cm ChanModes) typeOf(m byte) modeType {
	switch {
	case strings.IndexByte(cm.A, m) >= 0:
		return typeA
	case strings.IndexByte(cm.B, m) >= 0:
		return typeB
	case strings.IndexByte(cm.C, m) >= 0:
		return typeC
	}
	return typeD
}

// Prefixes is the PREFIX ISUPPORT token: prefix mode letters and their
// symbols, highest rank first.
type Prefixes struct {
	Modes   string // e.g. "qaohv"
	Symbols string // e.g. "~&@%+"
}

// ParsePrefix parses a PREFIX value such as "(qaohv)~&@%+". An empty value
// (PREFIX=) means the server has no prefix modes.
func ParsePrefix(v string) (Prefixes, error) {
	if v == "" {
		return Prefixes{}, nil
	}
	modes, symbols, ok := strings.Cut(strings.TrimPrefix(v, "("), ")")
	if !ok || !strings.HasPrefix(v, "(") || len(modes) != len(symbols) ||
		len(modes) > maxPrefixModes || !modeLetters(modes) {
		return Prefixes{}, fmt.Errorf("PREFIX %q: %w", v, ErrISupport)
	}
	for i := range len(symbols) {
		c := symbols[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(symbols[:i], c) >= 0 {
			return Prefixes{}, fmt.Errorf("PREFIX %q: %w", v, ErrISupport)
		}
	}
	return Prefixes{Modes: modes, Symbols: symbols}, nil
}

// modeLetters reports whether s holds only ASCII letters, each once.
func modeLetters(s string) bool {
	for i := range len(s) {
		if !isModeLetter(s[i]) || strings.IndexByte(s[:i], s[i]) >= 0 {
			return false
		}
	}
	return true
}

func isModeLetter(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// ISupport is the part of RPL_ISUPPORT (005) a Network uses.
type ISupport struct {
	CaseMapping ircfmt.CaseMapping
	Prefix      Prefixes
	ChanModes   ChanModes
	ChanTypes   string
}

// DefaultISupport returns the values assumed before the server sends 005.
func DefaultISupport() ISupport {
	p, _ := ParsePrefix(DefaultPrefix)
	cm, _ := ParseChanModes(DefaultChanModes)
	return ISupport{
		CaseMapping: ircfmt.CaseMappingRFC1459,
		Prefix:      p,
		ChanModes:   cm,
		ChanTypes:   DefaultChanTypes,
	}
}

// Apply updates is from RPL_ISUPPORT tokens ("KEY=VALUE", "KEY" or
// "-KEY"); tokens it does not use are ignored. A negated token restores the
// default. On a malformed value it keeps the old one and reports the error
// after applying the other tokens.
func (is *ISupport) Apply(tokens ...string) error {
	def := DefaultISupport()
	var errs []error
	for _, tok := range tokens {
		key, val, _ := strings.Cut(tok, "=")
		neg := strings.HasPrefix(key, "-")
		key = strings.TrimPrefix(key, "-")
		switch key {
		case "CASEMAPPING":
			is.CaseMapping = ircfmt.CaseMapping(strings.ToLower(val))
			if neg || val == "" {
				is.CaseMapping = def.CaseMapping
			}
		case "CHANTYPES":
			is.ChanTypes = val
			if neg {
				is.ChanTypes = def.ChanTypes
			}
		case "PREFIX":
			if neg {
				is.Prefix = def.Prefix
				continue
			}
			p, err := ParsePrefix(val)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			is.Prefix = p
		case "CHANMODES":
			if neg {
				is.ChanModes = def.ChanModes
				continue
			}
			cm, err := ParseChanModes(val)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			is.ChanModes = cm
		}
	}
	return errors.Join(errs...)
}

// IsChannel reports whether name starts with one of the channel types.
func (is ISupport) IsChannel(name string) bool {
	return name != "" && strings.IndexByte(is.ChanTypes, name[0]) >= 0
}
