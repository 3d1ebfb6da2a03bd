package netstate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrMode is wrapped by errors about malformed MODE lines.
var ErrMode = errors.New("netstate: malformed MODE")

// ModeChange is one letter of a channel MODE line: set or unset, with its
// parameter when the mode takes one.
type ModeChange struct {
	Add  bool
	Mode byte
	Arg  string
	// Prefix is true for prefix modes (such as +o): Arg is then a nick.
	Prefix bool
	// List is true for list modes (CHANMODES type A, such as +b).
	List bool
}

// ParseMode splits a channel MODE line's mode string and parameters into
// single changes, using the CHANMODES and PREFIX of is: list (A), always
// parameterised (B) and prefix modes take a parameter both ways, type C
// only when set, type D and unknown modes never. A mode whose parameter is
// missing or any character that is not a letter, '+' or '-' is skipped and
// reported in the error (wrapping [ErrMode]); the other changes are still
// returned. Surplus parameters are ignored.
func ParseMode(is ISupport, modes string, args []string) ([]ModeChange, error) {
	var out []ModeChange
	var errs []error
	add := true
	for i := range len(modes) {
		c := modes[i]
		switch {
		case c == '+' || c == '-':
			add = c == '+'
			continue
		case !isModeLetter(c):
			errs = append(errs, fmt.Errorf("mode character %q: %w", c, ErrMode))
			continue
		}
		mc := ModeChange{Add: add, Mode: c}
		t := is.ChanModes.typeOf(c)
		if strings.IndexByte(is.Prefix.Modes, c) >= 0 {
			t = typePrefix
		}
		mc.Prefix = t == typePrefix
		mc.List = t == typeA
		if t == typeA || t == typeB || t == typePrefix || (t == typeC && add) {
			if len(args) == 0 {
				errs = append(errs, fmt.Errorf("mode %c: missing parameter: %w", c, ErrMode))
				continue
			}
			mc.Arg, args = args[0], args[1:]
		}
		out = append(out, mc)
	}
	return out, errors.Join(errs...)
}

// Modes is a snapshot of a channel's simple modes: flags (type D, such as
// +i, +s, +m, +t) and modes with a value (types B and C, such as +k and
// +l). Prefix and list modes are kept elsewhere.
type Modes struct {
	flags  uint64
	params []modeParam
}

type modeParam struct {
	mode byte
	arg  string
}

// modeBit maps a mode letter to a bit: a–z are 0–25, A–Z 26–51.
func modeBit(m byte) uint64 {
	switch {
	case m >= 'a' && m <= 'z':
		return 1 << (m - 'a')
	case m >= 'A' && m <= 'Z':
		return 1 << (m - 'A' + 26)
	}
	return 0
}

// Has reports whether mode is set (with or without a value).
func (m Modes) Has(mode byte) bool { return m.flags&modeBit(mode) != 0 }

// Param returns the value of a set mode such as +k or +l.
func (m Modes) Param(mode byte) (string, bool) {
	for _, p := range m.params {
		if p.mode == mode {
			return p.arg, true
		}
	}
	return "", false
}

// Key returns the channel key (+k), or "" when there is none.
func (m Modes) Key() string {
	k, _ := m.Param('k')
	return k
}

// InviteOnly reports +i.
func (m Modes) InviteOnly() bool { return m.Has('i') }

// Secret reports +s.
func (m Modes) Secret() bool { return m.Has('s') }

// Moderated reports +m.
func (m Modes) Moderated() bool { return m.Has('m') }

// TopicLocked reports +t (only operators may change the topic).
func (m Modes) TopicLocked() bool { return m.Has('t') }

// String returns the set mode letters in order, such as "+iklnt". Values
// are left out so that a channel key never reaches a log.
func (m Modes) String() string {
	b := []byte{'+'}
	for c := byte('a'); c <= 'z'; c++ {
		if m.Has(c) {
			b = append(b, c)
		}
	}
	for c := byte('A'); c <= 'Z'; c++ {
		if m.Has(c) {
			b = append(b, c)
		}
	}
	return string(b)
}

// set records mode as set, with arg when hasArg; it reports whether
// anything changed.
func (m *Modes) set(mode byte, arg string, hasArg bool) bool {
	bit := modeBit(mode)
	if !hasArg {
		changed := m.flags&bit == 0
		m.flags |= bit
		return changed
	}
	m.flags |= bit
	for i := range m.params {
		if m.params[i].mode == mode {
			changed := m.params[i].arg != arg
			m.params[i].arg = arg
			return changed
		}
	}
	m.params = append(m.params, modeParam{mode: mode, arg: arg})
	return true
}

// unset clears mode; it reports whether it was set.
func (m *Modes) unset(mode byte) bool {
	bit := modeBit(mode)
	was := m.flags&bit != 0
	m.flags &^= bit
	m.params = slices.DeleteFunc(m.params, func(p modeParam) bool { return p.mode == mode })
	return was
}

// clone returns a copy that shares nothing with m.
func (m Modes) clone() Modes {
	return Modes{flags: m.flags, params: slices.Clone(m.params)}
}
