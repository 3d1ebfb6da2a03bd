package ircconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// FuzzSend checks that whatever a caller passes, Send's line builder
// produces exactly one IRC line that parses back to the same message, or
// nothing.
func FuzzSend(f *testing.F) {
	f.Add("PRIVMSG", "#chan", "hello world", "+draft/reply", "abc")
	f.Add("PRIVMSG", "#chan\r\nQUIT", "x", "", "")
	f.Add("NOTICE", "bob", "a\nb", "label", "x y;z\\")
	f.Add("TAGMSG", "#c", "", "+draft/react", "\r\n")
	f.Add("PRIV MSG", ":x", " ", "a=b", "\x00")
	f.Add("001", "", ":", "+", "é")
	f.Fuzz(func(t *testing.T, command, target, text, tagName, tagValue string) {
		var tags map[string]string
		if tagName != "" {
			tags = map[string]string{tagName: tagValue}
		}
		line, err := buildLine(tags, command, []string{target, text}, 0)
		if err != nil {
			return
		}
		if bytes.Count(line, []byte("\n")) != 1 || bytes.Count(line, []byte("\r")) != 1 || !bytes.HasSuffix(line, []byte("\r\n")) || bytes.IndexByte(line, 0) >= 0 {
			t.Fatalf("line %q is not exactly one line", line)
		}
		m, err := ircmsg.ParseLine(string(line))
		if err != nil {
			t.Fatalf("built line %q does not parse: %v", line, err)
		}
		if m.Command != strings.ToUpper(command) || len(m.Params) != 2 || m.Params[0] != target || m.Params[1] != text {
			t.Fatalf("line %q parses as %s %q, want %s %q", line, m.Command, m.Params, command, []string{target, text})
		}
		if tags != nil {
			if ok, v := m.GetTag(tagName); !ok || v != tagValue {
				t.Fatalf("tag %q=%q arrived as %q (present %v)", tagName, tagValue, v, ok)
			}
		}
	})
}

// FuzzReadLine feeds arbitrary server bytes to a registered connection's
// reader: it must never panic, and must end cleanly at EOF.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("PING :x\r\n:bob!b@h PRIVMSG #c :hi\r\n"))
	f.Add([]byte("@batch=a;label=b :s BATCH +a chathistory #c\r\n@batch=a :s BATCH +b draft/multiline #c\r\n@batch=b PRIVMSG #c :x\r\n:s BATCH -a\r\n"))
	f.Add([]byte(":srv CAP * NEW :sasl draft/multiline=max-bytes=-1\r\n:srv CAP * DEL :\r\n:srv 005 x PREFIX=(ov CHANMODES=,,,,, :y\r\n"))
	f.Add([]byte("@label=cw1 :srv 404 x\r\n@label=cw1 FAIL\r\nBATCH -\r\nBATCH +\r\nNICK\r\n:srv 900\r\nERROR\r\n"))
	f.Add(append(bytes.Repeat([]byte("@a=b;"), 120), []byte(" PRIVMSG x :long tagged line\r\n")...))
	f.Add([]byte("\x00\r\r\n\n  \r\n:\r\n@\r\n@ \r\n:a \r\n"))
	f.Add([]byte("@batch=;label :x!y PRIVMSG #c\r\n:x! JOIN\r\n:!x JOIN #c\r\n@a :X!y@h PRIVMSG :#c :t\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Config{Addr: "fuzz", Nick: "x", PingInterval: -1, SkipOthers: skipChannelTraffic}.withDefaults()
		c := newConn(&scriptConn{r: bytes.NewReader(data)}, cfg)
		c.updateCapsLocked(func(caps map[string]string) {
			for _, name := range []string{"echo-message", "labeled-response", "batch"} {
				c.enableCapLocked(caps, name, "")
			}
		})
		c.waiters.add(&waiter{label: "cw1", ch: make(chan result, 1)})
		c.waiters.add(&waiter{command: "PRIVMSG", target: "#c", ch: make(chan result, 1)})
		c.readLoop() // returns at EOF
		if !errors.Is(c.Err(), ErrDisconnected) {
			t.Fatalf("Err() = %v after EOF", c.Err())
		}
	})
}

// scriptConn is a net.Conn that reads from r and discards writes.
type scriptConn struct {
	r io.Reader
}

func (s *scriptConn) Read(b []byte) (int, error)       { return s.r.Read(b) }
func (s *scriptConn) Write(b []byte) (int, error)      { return len(b), nil }
func (s *scriptConn) Close() error                     { return nil }
func (s *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *scriptConn) SetDeadline(time.Time) error      { return nil }
func (s *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptConn) SetWriteDeadline(time.Time) error { return nil }
