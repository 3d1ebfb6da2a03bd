package identd

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrRequest is wrapped by errors about unreadable requests.
var ErrRequest = errors.New("identd: malformed request")

// ErrPort is wrapped when a request names a port outside 1–65535; the
// server answers INVALID-PORT.
var ErrPort = errors.New("identd: invalid port")

// ParseRequest parses an RFC 1413 query line "local-port , remote-port"
// (spaces optional, line ending already removed). localPort is the port on
// this host (the bridge's end of the IRC connection), remotePort the port
// on the querying host (the IRC server's, usually 6667 or 6697). For
// ports that are numbers but out of range it returns them with ErrPort.
func ParseRequest(line string) (localPort, remotePort int, err error) {
	a, b, ok := strings.Cut(line, ",")
	if !ok {
		return 0, 0, fmt.Errorf("no comma: %w", ErrRequest)
	}
	localPort, err1 := parsePort(a)
	remotePort, err2 := parsePort(b)
	if err := errors.Join(err1, err2); err != nil {
		return localPort, remotePort, err
	}
	return localPort, remotePort, nil
}

// maxPortDigits bounds what is parsed as a number.
const maxPortDigits = 5

func parsePort(s string) (int, error) {
	s = strings.Trim(s, " \t")
	if s == "" || len(s) > maxPortDigits {
		return 0, fmt.Errorf("port of %d characters: %w", len(s), ErrRequest)
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("port is not a number: %w", ErrRequest)
		}
	}
	p, _ := strconv.Atoi(s)
	if p < 1 || p > 65535 {
		return p, fmt.Errorf("port %d: %w", p, ErrPort)
	}
	return p, nil
}

// sanitizeUser keeps a username safe in a reply: no control characters,
// no ':' or ',' (which separate reply fields), no spaces, at most 64 bytes.
func sanitizeUser(u string) string {
	u = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == ':' || r == ',' {
			return -1
		}
		return r
	}, u)
	if len(u) > maxUserLen {
		u = u[:maxUserLen]
	}
	return strings.ToValidUTF8(u, "")
}

const maxUserLen = 64
