// Package ircconn is a lean IRC client connection for bridges that keep one
// connection per bridged user, possibly thousands per network.
//
// A [Conn] is built on the parser and strict serialiser of
// github.com/ergochat/irc-go/ircmsg and costs one goroutine (the reader):
// writes happen on the caller's goroutine under a mutex, keep-alive uses a
// timer, and the read buffer is 512 bytes, growing only while a long tagged
// line (up to 8191 bytes of tags plus 512) is read.
//
// [Dial] connects, negotiates IRCv3 capabilities with CAP LS 302 (a NAK of
// one capability never drops the others), authenticates with SASL PLAIN or
// EXTERNAL when configured (failing closed: without a successful SASL
// exchange the connection never registers), picks a fallback nick on
// 432/433/436/437, waits for the end of the registration burst and parses
// ISUPPORT. After that every message goes to the [Handler] on the reader
// goroutine; PING is answered automatically, batches are assembled and
// delivered whole, and replies to [Conn.SendMessage] (labeled responses,
// echoes, error numerics) are routed to the waiting sender.
//
// Nothing a caller passes can inject IRC syntax: [Conn.Send] rejects CR, LF
// and NUL anywhere, spaces, empty values or a leading ':' in non-final
// parameters, invalid commands and tag names, and overlong lines, and
// nothing is written when it does. Passwords and SASL payloads are never
// logged.
package ircconn
