package puppet

import (
	"errors"
	"fmt"
	"strings"

	"github.com/causewaybridge/causeway/matrix"
)

// MaxIDLength is the longest Matrix user ID or room alias in bytes,
// sigil and server name included.
const MaxIDLength = 255

// Errors returned by Namespace methods, wrapped with details.
var (
	// ErrBadServerName means the homeserver name given to NewNamespace is
	// not a valid Matrix server name.
	ErrBadServerName = errors.New("bad server name")
	// ErrMissingValue means Format was not given a value for a placeholder.
	ErrMissingValue = errors.New("missing placeholder value")
	// ErrUnknownPlaceholder means Format or Bind was given a name the
	// template does not have.
	ErrUnknownPlaceholder = errors.New("unknown placeholder")
	// ErrEmptyValue means a placeholder value was empty.
	ErrEmptyValue = errors.New("empty placeholder value")
	// ErrBoundValue means Format was given a value for a placeholder fixed by
	// Bind that differs from the bound value.
	ErrBoundValue = errors.New("placeholder bound to another value")
	// ErrTooLong means the formatted ID would exceed MaxIDLength. IDs are
	// never truncated, since a truncated ID could collide with another.
	ErrTooLong = errors.New("ID longer than 255 bytes")
	// ErrForeignID means Parse was given an ID that Format of this
	// namespace could not have produced.
	ErrForeignID = errors.New("ID not in puppet namespace")
)

// ID is the set of Matrix identifier types a Namespace produces.
type ID interface {
	matrix.UserID | matrix.RoomAlias
}

// Values holds remote identifiers by placeholder name, for example
// Values{"network": "libera", "nick": "alice"}.
type Values map[string]string

// Namespace formats and parses the Matrix IDs of one template on one
// homeserver and produces its registration regexes. It is immutable and safe
// for concurrent use.
type Namespace[T ID] struct {
	tmpl   *Template
	server string
	// bound[i] is the escaped fixed value of placeholder i ("" when free);
	// boundRaw[i] is the same value unescaped.
	bound, boundRaw []string
	// fixedLen is the length of everything but the free values' escapes.
	fixedLen   int
	regex      string
	claimRegex string
	// lead and trail are the literal text before the first and after the
	// last free placeholder, bound values included.
	lead, trail string
	// allBound is set when Bind has fixed every placeholder.
	allBound bool
}

// NewNamespace binds t to the homeserver server. T must match the
// template's sigil: matrix.UserID for "@", matrix.RoomAlias for "#".
func NewNamespace[T ID](t *Template, server string) (*Namespace[T], error) {
	var zero T
	want := byte(SigilUser)
	if _, ok := any(zero).(matrix.RoomAlias); ok {
		want = SigilAlias
	}
	if t.sigil != want {
		return nil, fmt.Errorf("%w %q: sigil %q cannot produce a %T", ErrBadTemplate, t.raw, t.sigil, zero)
	}
	if !validServerName(server) {
		return nil, fmt.Errorf("%w: %q", ErrBadServerName, server)
	}
	n := &Namespace[T]{
		tmpl:     t,
		server:   server,
		bound:    make([]string, len(t.parts)),
		boundRaw: make([]string, len(t.parts)),
	}
	n.init()
	return n, nil
}

// NewUsers parses a user template such as "@irc_{network}_{nick}:{server}"
// and binds it to server.
func NewUsers(template, server string) (*Namespace[matrix.UserID], error) {
	t, err := NewTemplate(template)
	if err != nil {
		return nil, err
	}
	return NewNamespace[matrix.UserID](t, server)
}

// NewAliases parses a room alias template such as
// "#irc_{network}_{channel}:{server}" and binds it to server.
func NewAliases(template, server string) (*Namespace[matrix.RoomAlias], error) {
	t, err := NewTemplate(template)
	if err != nil {
		return nil, err
	}
	return NewNamespace[matrix.RoomAlias](t, server)
}

// Template returns the namespace's template.
func (n *Namespace[T]) Template() *Template { return n.tmpl }

// Server returns the homeserver name filled into {server}.
func (n *Namespace[T]) Server() string { return n.server }

// Bind returns a namespace that fixes placeholder name to value, such as one
// namespace per IRC network: its Format needs no value for name, its Parse
// and Owns accept only IDs with that value, and its regexes cover only them.
// The IDs it formats are the same as n's.
func (n *Namespace[T]) Bind(name, value string) (*Namespace[T], error) {
	i := n.index(name)
	if i < 0 {
		return nil, fmt.Errorf("bind {%s}: %w", name, ErrUnknownPlaceholder)
	}
	if value == "" {
		return nil, fmt.Errorf("bind {%s}: %w", name, ErrEmptyValue)
	}
	if n.bound[i] != "" && n.boundRaw[i] != value {
		return nil, fmt.Errorf("bind {%s} to %q: %w", name, value, ErrBoundValue)
	}
	m := *n
	m.bound = append([]string(nil), n.bound...)
	m.boundRaw = append([]string(nil), n.boundRaw...)
	m.bound[i] = n.tmpl.parts[i].safe.escape(value)
	m.boundRaw[i] = value
	m.init()
	if m.fixedLen > MaxIDLength {
		return nil, fmt.Errorf("bind {%s}: %w", name, ErrTooLong)
	}
	return &m, nil
}

func (n *Namespace[T]) index(name string) int {
	for i, p := range n.tmpl.parts {
		if p.name == name {
			return i
		}
	}
	return -1
}

// init computes the derived fields from tmpl, server and bound.
func (n *Namespace[T]) init() {
	t := n.tmpl
	n.fixedLen = 1 + len(t.prefix) + 1 + len(n.server)
	for i, p := range t.parts {
		n.fixedLen += len(p.after) + len(n.bound[i])
	}
	n.lead, n.trail = n.literals()
	n.allBound = true
	for _, b := range n.bound {
		n.allBound = n.allBound && b != ""
	}
	n.regex = n.buildRegex()
	n.claimRegex = n.buildClaimRegex()
}

// literals returns the fixed text before the first free placeholder and
// after the last one. With no free placeholder, lead is the whole localpart.
func (n *Namespace[T]) literals() (lead, trail string) {
	t := n.tmpl
	var b strings.Builder
	b.WriteString(t.prefix)
	i := 0
	for ; i < len(t.parts) && n.bound[i] != ""; i++ {
		b.WriteString(n.bound[i])
		b.WriteString(t.parts[i].after)
	}
	lead = b.String()
	if i == len(t.parts) {
		return lead, ""
	}
	b.Reset()
	last := len(t.parts) - 1
	for last > 0 && n.bound[last] != "" {
		last--
	}
	b.WriteString(t.parts[last].after)
	for j := last + 1; j < len(t.parts); j++ {
		b.WriteString(n.bound[j])
		b.WriteString(t.parts[j].after)
	}
	return lead, b.String()
}

// Format returns the ID for v, which must hold a non-empty value for every
// free placeholder and nothing else (a bound placeholder may be repeated
// with its bound value). The result is at most MaxIDLength bytes or an error;
// ErrTooLong is reported only when the values are otherwise valid.
func (n *Namespace[T]) Format(v Values) (T, error) {
	t := n.tmpl
	var buf [MaxIDLength]byte // the result always fits: no heap growth
	b := append(buf[:0], t.sigil)
	b = append(b, t.prefix...)
	budget := MaxIDLength - n.fixedLen
	used, tooLong := 0, false
	for i := range t.parts {
		p := &t.parts[i]
		val, ok := v[p.name]
		if ok {
			used++
		}
		switch {
		case n.bound[i] != "":
			if ok && val != n.boundRaw[i] {
				return "", fmt.Errorf("format {%s}=%q: %w %q", p.name, val, ErrBoundValue, n.boundRaw[i])
			}
			if !tooLong {
				b = append(b, n.bound[i]...)
			}
		case !ok:
			return "", fmt.Errorf("format {%s}: %w", p.name, ErrMissingValue)
		case val == "":
			return "", fmt.Errorf("format {%s}: %w", p.name, ErrEmptyValue)
		case !tooLong:
			var fits bool
			b, budget, fits = p.safe.appendEscaped(b, val, budget)
			tooLong = !fits // keep checking the other values: their errors come first
		}
		if !tooLong {
			b = append(b, p.after...)
		}
	}
	if used != len(v) {
		return "", n.unknownKey(v)
	}
	if tooLong {
		return "", fmt.Errorf("format %s: %w (%d bytes)", t.raw, ErrTooLong, n.length(v))
	}
	b = append(b, ':')
	b = append(b, n.server...)
	return T(b), nil
}

// length returns the length of the ID for v, for error messages.
func (n *Namespace[T]) length(v Values) int {
	size := n.fixedLen
	for i, p := range n.tmpl.parts {
		if n.bound[i] == "" {
			size += p.safe.escapedLen(v[p.name])
		}
	}
	return size
}

func (n *Namespace[T]) unknownKey(v Values) error {
	for k := range v {
		if n.index(k) < 0 {
			return fmt.Errorf("format {%s}: %w in %s", k, ErrUnknownPlaceholder, n.tmpl.raw)
		}
	}
	return fmt.Errorf("format: %w", ErrUnknownPlaceholder)
}

// Parse returns the values id was formatted from, bound values included.
// It fails with ErrForeignID unless Format of this namespace produces
// exactly id for some values.
func (n *Namespace[T]) Parse(id T) (Values, error) {
	v := make(Values, len(n.tmpl.parts))
	if m := n.scan(string(id), v); m.reason != "" {
		where := ""
		if m.part >= 0 {
			where = " {" + n.tmpl.parts[m.part].name + "}"
		}
		return nil, fmt.Errorf("parse %q: %w %s: %s%s", id, ErrForeignID, n.tmpl.raw, m.reason, where)
	}
	return v, nil
}

// Owns reports whether id belongs to the namespace, that is whether Parse
// would succeed. It does not allocate.
func (n *Namespace[T]) Owns(id T) bool { return n.scan(string(id), nil).reason == "" }

// Claims reports whether id matches ClaimRegex: it lies in the area the
// namespace claims exclusively, even if Format could not have produced it.
func (n *Namespace[T]) Claims(id T) bool {
	if n.allBound {
		return n.Owns(id)
	}
	local, ok := n.localpart(string(id))
	return ok && len(local) >= len(n.lead)+len(n.trail) &&
		strings.HasPrefix(local, n.lead) && strings.HasSuffix(local, n.trail)
}

// localpart returns the text between the sigil and ":server", if id has
// the namespace's sigil and server and no other colon before the server.
func (n *Namespace[T]) localpart(id string) (string, bool) {
	end := len(id) - len(n.server) - 1
	if end < 1 || id[0] != n.tmpl.sigil || id[end] != ':' || id[end+1:] != n.server {
		return "", false
	}
	local := id[1:end]
	return local, strings.IndexByte(local, ':') < 0
}

// mismatch says why an ID is not in the namespace: a constant reason (""
// when it is) and the placeholder concerned, or -1. Building no strings
// keeps Owns free of allocations.
type mismatch struct {
	reason string
	part   int
}

// scan matches id against the namespace and stores values into out when it
// is not nil.
func (n *Namespace[T]) scan(id string, out Values) mismatch {
	if len(id) > MaxIDLength {
		return mismatch{"longer than 255 bytes", -1}
	}
	rest, ok := n.localpart(id)
	if !ok {
		return mismatch{"wrong sigil or server, or a colon in the localpart", -1}
	}
	t := n.tmpl
	if !strings.HasPrefix(rest, t.prefix) {
		return mismatch{"wrong prefix", -1}
	}
	rest = rest[len(t.prefix):]
	for i := range t.parts {
		p := &t.parts[i]
		end := len(rest)
		if p.after != "" {
			end = strings.IndexByte(rest, p.after[0])
		}
		if end < 0 || !strings.HasPrefix(rest[end:], p.after) {
			return mismatch{"no literal separator after", i}
		}
		if reason := n.value(i, rest[:end], out); reason != "" {
			return mismatch{reason, i}
		}
		rest = rest[end+len(p.after):]
	}
	if rest != "" {
		return mismatch{"trailing text", -1}
	}
	return mismatch{}
}

// value checks the escaped value of placeholder i and stores it into out.
func (n *Namespace[T]) value(i int, esc string, out Values) string {
	p := &n.tmpl.parts[i]
	if n.bound[i] != "" {
		if esc != n.bound[i] {
			return "not the bound value of"
		}
		if out != nil {
			out[p.name] = n.boundRaw[i]
		}
		return ""
	}
	val, ok := p.safe.unescape(esc, out != nil)
	if !ok {
		return "empty or not canonically escaped value of"
	}
	if out != nil {
		out[p.name] = val
	}
	return ""
}

// validServerName reports whether s has the shape of a Matrix server name:
// a DNS name, IPv4 address or bracketed IPv6 address, with an optional port.
func validServerName(s string) bool {
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 && !strings.HasSuffix(s, "]") {
		host, port = s[:i], s[i+1:]
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	if host == "" || len(host) > MaxIDLength-3 {
		return false
	}
	if host[0] == '[' {
		return len(host) > 2 && host[len(host)-1] == ']' &&
			strings.Trim(host[1:len(host)-1], "0123456789abcdefABCDEF:.") == ""
	}
	return strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == ""
}
