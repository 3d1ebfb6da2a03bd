package ircconn

import (
	"bytes"
	"errors"
)

// errLineSkipped reports a line that [Config.SkipOthers] dropped unparsed.
var errLineSkipped = errors.New("line skipped")

// skippable reports whether line (CR LF included) was caused by another
// client, is in no batch and answers no label, and SkipOthers drops it.
// It reads the raw bytes and allocates nothing; anything it cannot read
// for certain is kept (parsed and handled as usual).
func (c *Conn) skippable(line []byte) bool {
	rest := line
	if len(rest) > 0 && rest[0] == '@' {
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return false
		}
		if hasTag(rest[1:sp], "batch") || hasTag(rest[1:sp], "label") {
			return false
		}
		rest = rest[sp:]
	}
	rest = bytes.TrimLeft(rest, " ")
	if len(rest) == 0 || rest[0] != ':' {
		return false
	}
	src, rest := field(rest[1:])
	bang := bytes.IndexByte(src, '!')
	if bang <= 0 || c.mightBeSelf(src[:bang]) {
		return false // a server, or possibly this connection
	}
	cmd, rest := field(rest)
	target, _ := field(rest)
	target = bytes.TrimPrefix(target, []byte(":"))
	return len(cmd) > 0 && c.cfg.SkipOthers(cmd, target)
}

// field returns the first space-separated word of s (CR LF trimmed) and
// what follows it.
func field(s []byte) (word, rest []byte) {
	s = bytes.TrimLeft(s, " ")
	if i := bytes.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return bytes.TrimRight(s, "\r\n"), nil
}

// hasTag reports whether the raw tag list has a tag called key.
func hasTag(tags []byte, key string) bool {
	for len(tags) > 0 {
		tag := tags
		if i := bytes.IndexByte(tags, ';'); i >= 0 {
			tag, tags = tags[:i], tags[i+1:]
		} else {
			tags = nil
		}
		if i := bytes.IndexByte(tag, '='); i >= 0 {
			tag = tag[:i]
		}
		if string(tag) == key {
			return true
		}
	}
	return false
}

// mightBeSelf reports whether nick could be this connection's nick under
// any IRC case mapping (ASCII, rfc1459 and strict-rfc1459 alike): the
// check errs towards "yes", which only means the line is parsed.
func (c *Conn) mightBeSelf(nick []byte) bool {
	c.mu.Lock()
	own := c.nick
	c.mu.Unlock()
	if len(nick) != len(own) {
		return false
	}
	for i := range len(nick) {
		if looseFold(nick[i]) != looseFold(own[i]) {
			return false
		}
	}
	return true
}

// looseFold folds b under the widest IRC case mapping.
func looseFold(b byte) byte {
	switch {
	case 'A' <= b && b <= 'Z':
		return b + 'a' - 'A'
	case b == '[':
		return '{'
	case b == ']':
		return '}'
	case b == '\\':
		return '|'
	case b == '~':
		return '^'
	}
	return b
}
