package ircconn

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPingAnswered(t *testing.T) {
	rec := newRecorder()
	_, s := connect(t, Config{Handler: rec}, "")
	s.send("PING :abc def")
	s.expect("PONG :abc def")
	s.send(":bob!b@h PRIVMSG alice :hi")
	if m := rec.nextMsg(t); m.Command != "PRIVMSG" {
		t.Fatalf("handler got %v, want the PRIVMSG (PING is not passed on)", m.Command)
	}
}

func TestKeepAlive(t *testing.T) {
	rec := newRecorder()
	c, s := connect(t, Config{Handler: rec, PingInterval: 50 * time.Millisecond, PingTimeout: 150 * time.Millisecond}, "")
	// Answered pings keep the connection up.
	for range 3 {
		p := s.expect("PING ")
		s.send(":srv PONG srv :" + p.Params[0])
	}
	select {
	case <-c.Done():
		t.Fatalf("connection ended although pings were answered: %v", c.Err())
	default:
	}
	// An unanswered ping ends it.
	s.expect("PING ")
	select {
	case <-c.Done():
	case <-time.After(testTimeout):
		t.Fatal("connection not closed after an unanswered ping")
	}
	if !errors.Is(c.Err(), ErrPingTimeout) {
		t.Errorf("Err() = %v, want ErrPingTimeout", c.Err())
	}
	if err := <-rec.closed; !errors.Is(err, ErrPingTimeout) {
		t.Errorf("HandleClose got %v, want ErrPingTimeout", err)
	}
}

func TestServerVanishes(t *testing.T) {
	rec := newRecorder()
	c, s := connect(t, Config{Handler: rec}, "")
	s.send(":srv NOTICE alice :bye")
	rec.nextMsg(t)
	_ = s.conn.Close()
	select {
	case <-c.Done():
	case <-time.After(testTimeout):
		t.Fatal("Done not closed after the server vanished")
	}
	if !errors.Is(c.Err(), ErrDisconnected) {
		t.Errorf("Err() = %v, want ErrDisconnected", c.Err())
	}
	if err := <-rec.closed; !errors.Is(err, ErrDisconnected) {
		t.Errorf("HandleClose got %v", err)
	}
	select {
	case err := <-rec.closed:
		t.Errorf("HandleClose called twice (%v)", err)
	default:
	}
	if err := c.Send(t.Context(), nil, "PRIVMSG", "#c", "x"); err == nil {
		t.Error("Send on an ended connection succeeded")
	}
}

func TestServerErrorLine(t *testing.T) {
	c, s := connect(t, Config{}, "")
	s.send("ERROR :Closing Link: K-Lined")
	_ = s.conn.Close()
	<-c.Done()
	var ne *NumericError
	if !errors.Is(c.Err(), ErrDisconnected) || !errors.As(c.Err(), &ne) || ne.Text != "Closing Link: K-Lined" {
		t.Fatalf("Err() = %v, want ErrDisconnected with the ERROR text", c.Err())
	}
}

func TestClose(t *testing.T) {
	rec := newRecorder()
	c, s := connect(t, Config{Handler: rec}, "")
	if err := c.Close("see you"); err != nil {
		t.Fatal(err)
	}
	s.expect("QUIT :see you")
	<-c.Done()
	if err := c.Close("again"); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err() = %v, want ErrClosed", c.Err())
	}
}

func TestNickTrackingAndCasefold(t *testing.T) {
	rec := newRecorder()
	c, s := connect(t, Config{Handler: rec, Nick: "Alice"}, "")
	s.send(":alice!a@h NICK :Alice2", ":bob!b@h NICK :bob2")
	rec.nextMsg(t)
	rec.nextMsg(t)
	if c.Nick() != "Alice2" {
		t.Errorf("Nick() = %q after our NICK change, want Alice2", c.Nick())
	}
	// The fake server advertises CASEMAPPING=ascii.
	if got := c.Casefold("Al[I]ce"); got != "al[i]ce" {
		t.Errorf("Casefold = %q, want ascii folding", got)
	}
	is := c.ISupport()
	if is.NickLen != 30 || is.ChanTypes != "#" || is.PrefixModes != "qaohv" || is.ModeForPrefix('%') != 'h' {
		t.Errorf("ISupport = %+v", is)
	}
}

func TestCapNewDel(t *testing.T) {
	rec := newRecorder()
	c, s := connect(t, Config{Handler: rec}, "cap-notify")
	s.send(":srv CAP alice NEW :away-notify unwanted draft/multiline=max-bytes=2048")
	got := []string{s.expect("CAP REQ").Params[1], s.expect("CAP REQ").Params[1]}
	if strings.Join(got, " ") != "away-notify draft/multiline" {
		t.Fatalf("requested %v after CAP NEW", got)
	}
	s.send(":srv CAP alice ACK :away-notify draft/multiline", ":srv CAP alice DEL :cap-notify",
		":srv NOTICE alice :sync")
	rec.nextMsg(t)
	if !c.HasCap("away-notify") || c.HasCap("cap-notify") || c.ISupport().MultilineMaxBytes != 2048 {
		t.Errorf("caps %v, multiline %d", c.Caps(), c.ISupport().MultilineMaxBytes)
	}
}

func TestSendRejectsInjection(t *testing.T) {
	c, s := connect(t, Config{}, "")
	tests := []struct {
		tags    map[string]string
		command string
		params  []string
	}{
		0:  {nil, "PRIVMSG", []string{"#chan", "hi\r\nQUIT :pwned"}},
		1:  {nil, "PRIVMSG", []string{"#chan", "hi\nQUIT"}},
		2:  {nil, "PRIVMSG", []string{"#chan", "nul\x00byte"}},
		3:  {nil, "PRIVMSG", []string{"#chan x", "space in target"}},
		4:  {nil, "PRIVMSG", []string{":#chan", "colon target"}},
		5:  {nil, "PRIVMSG", []string{"", "empty target"}},
		6:  {nil, "PRIVMSG #chan", []string{"command with space"}},
		7:  {nil, "", []string{"no command"}},
		8:  {nil, "PRIV\rMSG", nil},
		9:  {map[string]string{"bad name": "x"}, "TAGMSG", []string{"#chan"}},
		10: {map[string]string{"+a;b": "x"}, "TAGMSG", []string{"#chan"}},
		11: {map[string]string{"+ok": "\xff"}, "TAGMSG", []string{"#chan"}},
		12: {nil, "PRIVMSG", []string{"#chan", strings.Repeat("x", 600)}},
		13: {nil, "PRIVMSG", []string{"#chan\r\n", "x"}},
	}
	for i, tc := range tests {
		if err := c.Send(t.Context(), tc.tags, tc.command, tc.params...); !errors.Is(err, ErrInvalidLine) {
			t.Errorf("%d: Send(%q, %q) = %v, want ErrInvalidLine", i, tc.command, tc.params, err)
		}
	}
	// Tag values are escaped, not rejected: they cannot break the line.
	if err := c.Send(t.Context(), map[string]string{"+draft/reply": "a b;c\r\nQUIT"}, "TAGMSG", "#chan"); err != nil {
		t.Fatalf("escaped tag value rejected: %v", err)
	}
	m := s.expect("TAGMSG #chan")
	if _, v := m.GetTag("+draft/reply"); v != "a b;c\r\nQUIT" {
		t.Errorf("tag value arrived as %q", v)
	}
	// Nothing of the rejected lines was written: the next line is this one.
	if err := c.Send(t.Context(), nil, "privmsg", "#chan", ":-) hello"); err != nil {
		t.Fatal(err)
	}
	s.expect("PRIVMSG #chan ::-) hello")
}

func TestFloodControl(t *testing.T) {
	const n, rate, burst = 8, 40.0, 2
	c, s := connect(t, Config{FloodRate: rate, FloodBurst: burst}, "")
	go func() {
		for i := range n {
			_ = c.Send(context.Background(), nil, "PRIVMSG", "#c", "msg"+string(rune('0'+i)))
		}
	}()
	var times []time.Time
	for i := range n {
		s.expect("PRIVMSG #c msg" + string(rune('0'+i)))
		times = append(times, time.Now())
	}
	// After the burst, lines are at least 1/rate apart on average; allow
	// generous slack for scheduling.
	min := time.Duration(float64(n-burst)/rate*float64(time.Second)) * 3 / 4
	if got := times[n-1].Sub(times[0]); got < min {
		t.Errorf("%d lines took %v, want at least %v at %v lines/s", n, got, min, rate)
	}
}

func TestPongBypassesFloodControl(t *testing.T) {
	c, s := connect(t, Config{FloodRate: 2, FloodBurst: 1}, "")
	go func() {
		for i := range 3 {
			_ = c.Send(context.Background(), nil, "PRIVMSG", "#c", "q"+string(rune('0'+i)))
		}
	}()
	s.expect("PRIVMSG #c q0")
	s.send("PING :now")
	start := time.Now()
	s.expect("PONG now")
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("PONG took %v behind throttled messages", d)
	}
	s.expect("PRIVMSG #c q1")
}

func TestSendContextCancelledWhileThrottled(t *testing.T) {
	c, _ := connect(t, Config{FloodRate: 0.1, FloodBurst: 1}, "")
	if err := c.Send(t.Context(), nil, "PRIVMSG", "#c", "first"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := c.Send(ctx, nil, "PRIVMSG", "#c", "second"); err == nil {
		t.Fatal("Send waited past its context instead of failing")
	}
}
