package ircconn

import (
	"errors"
	"strings"
)

// Errors returned by [Dial], the send methods and [Conn.Err]. Test them
// with errors.Is; they are often wrapped together with a [*NumericError]
// holding what the server said.
var (
	// ErrSASLFailed means SASL was configured but the server does not offer
	// it, does not offer the mechanism, or rejected the credentials. The
	// connection was closed without registering.
	ErrSASLFailed = errors.New("ircconn: SASL authentication failed")
	// ErrRejected means the server refused the registration (banned,
	// wrong server password, an ERROR line, ...).
	ErrRejected = errors.New("ircconn: server refused the connection")
	// ErrNickUnavailable means every nick tried during registration was
	// refused.
	ErrNickUnavailable = errors.New("ircconn: no nick available")
	// ErrPingTimeout means the server did not answer a keep-alive PING in
	// time.
	ErrPingTimeout = errors.New("ircconn: ping timeout")
	// ErrDisconnected means the server or the network ended the
	// connection.
	ErrDisconnected = errors.New("ircconn: connection lost")
	// ErrClosed means [Conn.Close] was called.
	ErrClosed = errors.New("ircconn: connection closed")
	// ErrInvalidLine means a message could not be sent because it would
	// not be exactly one well-formed IRC line. Nothing was written.
	ErrInvalidLine = errors.New("ircconn: invalid IRC line")
	// ErrUnconfirmed means a message was written but the server's
	// confirmation did not arrive before the context ended.
	ErrUnconfirmed = errors.New("ircconn: delivery not confirmed")
)

// NumericError is an error reply from the server: a numeric (Code "404"),
// a standard reply (Code "FAIL", with the reply's code in Reply) or an
// ERROR line (Code "ERROR").
type NumericError struct {
	// Code is the numeric, "FAIL" or "ERROR".
	Code string
	// Reply is the machine-readable code of a FAIL standard reply, such
	// as "INVALID_TARGET"; empty otherwise.
	Reply string
	// Target is the nick or channel the reply is about, when it names one.
	Target string
	// Text is the human-readable description the server sent.
	Text string
}

// Error returns "irc <code>: <text>".
func (e *NumericError) Error() string {
	var b strings.Builder
	b.WriteString("irc ")
	b.WriteString(e.Code)
	if e.Reply != "" {
		b.WriteString(" ")
		b.WriteString(e.Reply)
	}
	if e.Target != "" {
		b.WriteString(" ")
		b.WriteString(e.Target)
	}
	b.WriteString(": ")
	b.WriteString(e.Text)
	return b.String()
}
