package puppet

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadTemplate is wrapped by every error NewTemplate returns.
var ErrBadTemplate = errors.New("bad puppet template")

// serverSuffix ends every template; {server} is filled by NewNamespace.
const serverSuffix = ":{server}"

// Sigils of the two kinds of Matrix identifier a template can describe.
const (
	SigilUser  = '@'
	SigilAlias = '#'
)

// Template is a parsed puppet ID template such as
// "@irc_{network}_{nick}:{server}". It is immutable and safe for concurrent
// use. Build a Namespace from it to format and parse IDs.
type Template struct {
	raw    string
	sigil  byte
	prefix string // literal before the first placeholder, never empty
	parts  []part
}

// part is one placeholder and the literal text that follows it.
type part struct {
	name  string
	after string   // literal up to the next placeholder or the end of the localpart
	safe  *charset // bytes written as they are in this position
}

// NewTemplate parses s. See the package documentation for the grammar and
// for what is rejected; errors wrap ErrBadTemplate and say why.
func NewTemplate(s string) (*Template, error) {
	t, err := parseTemplate(s)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %s", ErrBadTemplate, s, err)
	}
	return t, nil
}

// String returns the template as it was written.
func (t *Template) String() string { return t.raw }

// Sigil returns '@' for a user template and '#' for a room alias template.
func (t *Template) Sigil() byte { return t.sigil }

// Placeholders returns the placeholder names in template order, without
// "server".
func (t *Template) Placeholders() []string {
	names := make([]string, len(t.parts))
	for i, p := range t.parts {
		names[i] = p.name
	}
	return names
}

// templateError is a reason without the template text, which NewTemplate adds.
type templateError string

func (e templateError) Error() string { return string(e) }

func parseTemplate(s string) (*Template, error) {
	if s == "" {
		return nil, templateError("empty template")
	}
	base, ok := baseCharset(s[0])
	if !ok {
		return nil, templateError(fmt.Sprintf("unknown sigil %q: want @ (user IDs) or # (room aliases)", s[0]))
	}
	if !strings.HasSuffix(s, serverSuffix) {
		return nil, templateError("must end with " + serverSuffix)
	}
	t := &Template{raw: s, sigil: s[0]}
	local := s[1 : len(s)-len(serverSuffix)]
	if err := t.parseLocalpart(local, base); err != nil {
		return nil, err
	}
	return t, nil
}

// parseLocalpart splits local into the prefix and parts and validates them.
func (t *Template) parseLocalpart(local string, base *charset) error {
	lit, rest, err := splitLiteral(local, base)
	if err != nil {
		return err
	}
	if lit == "" {
		return templateError("must start with literal text before the first placeholder, " +
			"or the namespace would claim every ID on the server")
	}
	t.prefix = lit
	for rest != "" {
		var p part
		p.name, rest, err = splitPlaceholder(rest)
		if err != nil {
			return err
		}
		if err := t.checkName(p.name); err != nil {
			return err
		}
		p.after, rest, err = splitLiteral(rest, base)
		if err != nil {
			return err
		}
		if err := checkSeparator(p, rest); err != nil {
			return err
		}
		p.safe = base.without(p.after)
		t.parts = append(t.parts, p)
	}
	if len(t.parts) == 0 {
		return templateError("has no placeholder, so it names one ID, not a namespace")
	}
	return nil
}

// splitLiteral returns the literal text at the start of s and what follows.
func splitLiteral(s string, base *charset) (lit, rest string, err error) {
	i := strings.IndexByte(s, '{')
	if i < 0 {
		i = len(s)
	}
	lit, rest = s[:i], s[i:]
	for j := 0; j < len(lit); j++ {
		if c := lit[j]; !base[c] {
			return "", "", templateError(fmt.Sprintf("literal %q holds %q, which is not allowed there "+
				"(allowed: %s; \"=\" is the escape character)", lit, c, base.describe()))
		}
	}
	return lit, rest, nil
}

// splitPlaceholder parses "{name}" at the start of s.
func splitPlaceholder(s string) (name, rest string, err error) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return "", "", templateError(fmt.Sprintf("unclosed placeholder %q", s))
	}
	return s[1:end], s[end+1:], nil
}

func (t *Template) checkName(name string) error {
	if !validName(name) {
		return templateError(fmt.Sprintf("placeholder name %q: want a lowercase letter "+
			"followed by lowercase letters, digits or _", name))
	}
	if name == "server" {
		return templateError("{server} may appear only in the final " + serverSuffix)
	}
	for _, p := range t.parts {
		if p.name == name {
			return templateError(fmt.Sprintf("placeholder {%s} appears twice", name))
		}
	}
	return nil
}

// checkSeparator ensures p's value can be found again by scanning to the
// first byte of the literal after it.
func checkSeparator(p part, rest string) error {
	if p.after == "" {
		if rest != "" {
			return templateError(fmt.Sprintf("placeholder {%s} is directly followed by another placeholder; "+
				"put a literal separator such as _ between them", p.name))
		}
		return nil
	}
	if c := p.after[0]; isEscapeByte(c) {
		return templateError(fmt.Sprintf("literal %q after {%s} starts with %q, which also occurs "+
			"inside escape sequences; start it with one of . _ - / instead", p.after, p.name, c))
	}
	return nil
}

func validName(name string) bool {
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
