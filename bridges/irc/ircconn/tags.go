package ircconn

import (
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// MsgID returns the msgid tag of m, or "".
func MsgID(m *ircmsg.Message) string {
	_, id := m.GetTag("msgid")
	return id
}

// ServerTime returns the server-time tag of m, and whether m had a valid
// one.
func ServerTime(m *ircmsg.Message) (time.Time, bool) {
	t := serverTime(m)
	return t, !t.IsZero()
}

func serverTime(m *ircmsg.Message) time.Time {
	_, v := m.GetTag("time")
	return parseTime(v)
}

// parseTime parses a server-time value (RFC 3339 in UTC with
// milliseconds), returning the zero time when it is absent or invalid.
func parseTime(v string) time.Time {
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}
	}
	return t
}
