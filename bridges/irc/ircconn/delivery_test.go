package ircconn

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// sendAsync runs SendMessage in the background.
func sendAsync(c *Conn, command, target, text string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		d, err := c.SendMessage(context.Background(), nil, command, target, text)
		ch <- result{d, err}
	}()
	return ch
}

func awaitSend(t *testing.T, ch <-chan result) (*Delivery, error) {
	t.Helper()
	select {
	case r := <-ch:
		return r.d, r.err
	case <-time.After(testTimeout):
		t.Fatal("SendMessage did not return")
	}
	return nil, nil
}

const labeledCaps = "batch labeled-response echo-message message-tags server-time"

func TestLabeledResponseConfirms(t *testing.T) {
	rec := newRecorder()
	c, s := connect(t, Config{Handler: rec}, labeledCaps)

	ch := sendAsync(c, "PRIVMSG", "#chan", "hello")
	m := s.expect("PRIVMSG #chan hello")
	ok, label := m.GetTag("label")
	if !ok || label == "" {
		t.Fatal("no label on a message sent with labeled-response")
	}
	s.send("@label=" + label + ";msgid=abc;time=2026-01-02T03:04:05.678Z :alice!a@h PRIVMSG #chan :hello")
	d, err := awaitSend(t, ch)
	if err != nil || !d.Confirmed || d.MsgID != "abc" || !d.ServerTime.Equal(time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)) {
		t.Fatalf("delivery %+v, %v", d, err)
	}

	// A labeled batch with an away reply and the echo confirms too.
	ch = sendAsync(c, "PRIVMSG", "bob", "you there?")
	label = label2(t, s.expect("PRIVMSG bob"))
	s.send("@label="+label+" :srv BATCH +b1 labeled-response",
		"@batch=b1 :srv 301 alice bob :gone fishing",
		"@batch=b1;msgid=m2 :alice!a@h PRIVMSG bob :you there?",
		":srv BATCH -b1")
	if d, err := awaitSend(t, ch); err != nil || !d.Confirmed || d.MsgID != "m2" {
		t.Fatalf("labeled batch: %+v, %v", d, err)
	}

	// A labeled error numeric is returned as a NumericError.
	ch = sendAsync(c, "PRIVMSG", "#moderated", "hi")
	label = label2(t, s.expect("PRIVMSG #moderated"))
	s.send("@label=" + label + " :srv 404 alice #moderated :Cannot send to channel")
	_, err = awaitSend(t, ch)
	var ne *NumericError
	if !errors.As(err, &ne) || ne.Code != "404" || ne.Target != "#moderated" || ne.Text != "Cannot send to channel" {
		t.Fatalf("error %v, want NumericError 404", err)
	}

	// FAIL standard replies too.
	ch = sendAsync(c, "TAGMSG", "#chan", "")
	label = label2(t, s.expect("TAGMSG #chan"))
	s.send("@label=" + label + " :srv FAIL TAGMSG INVALID_TARGET #chan :No such target")
	_, err = awaitSend(t, ch)
	if !errors.As(err, &ne) || ne.Code != "FAIL" || ne.Reply != "INVALID_TARGET" {
		t.Fatalf("error %v, want FAIL INVALID_TARGET", err)
	}

	// None of the replies reached the handler.
	s.send(":srv NOTICE alice :marker")
	if m := rec.nextMsg(t); m.Command != "NOTICE" {
		t.Errorf("handler got %s %v before the marker", m.Command, m.Params)
	}
}

func label2(t *testing.T, m interface{ GetTag(string) (bool, string) }) string {
	t.Helper()
	ok, label := m.GetTag("label")
	if !ok {
		t.Fatal("no label")
	}
	return label
}

func TestLabeledACKConfirmsWithoutEcho(t *testing.T) {
	c, s := connect(t, Config{}, "batch labeled-response")
	ch := sendAsync(c, "NOTICE", "#chan", "note")
	label := label2(t, s.expect("NOTICE #chan note"))
	s.send("@label=" + label + " :srv ACK")
	if d, err := awaitSend(t, ch); err != nil || !d.Confirmed || d.MsgID != "" {
		t.Fatalf("ACK: %+v, %v", d, err)
	}
}

func TestEchoConfirms(t *testing.T) {
	rec := newRecorder()
	c, s := connect(t, Config{Handler: rec}, "echo-message server-time")
	first := sendAsync(c, "PRIVMSG", "#chan", "one")
	s.expect("PRIVMSG #chan one")
	second := sendAsync(c, "PRIVMSG", "#Chan", "two")
	m := s.expect("PRIVMSG #Chan two")
	if m.HasTag("label") {
		t.Error("label sent without labeled-response")
	}
	// Another user's message and an echo of an unrelated Send go to the handler.
	s.send(":bob!b@h PRIVMSG #chan :one",
		"@msgid=e1 :alice!a@h PRIVMSG #chan :one",
		"@msgid=e2 :alice!a@h PRIVMSG #chan :two")
	if d, err := awaitSend(t, first); err != nil || !d.Confirmed || d.MsgID != "e1" {
		t.Fatalf("first: %+v, %v", d, err)
	}
	if d, err := awaitSend(t, second); err != nil || !d.Confirmed || d.MsgID != "e2" {
		t.Fatalf("second (target case differs): %+v, %v", d, err)
	}
	if m := rec.nextMsg(t); m.Nick() != "bob" {
		t.Errorf("handler got %v from %s, want bob's message", m.Params, m.Nick())
	}

	// An error numeric naming the target answers the oldest message to it.
	ch := sendAsync(c, "PRIVMSG", "ghost", "hello?")
	s.expect("PRIVMSG ghost")
	s.send(":srv 401 alice ghost :No such nick/channel")
	_, err := awaitSend(t, ch)
	var ne *NumericError
	if !errors.As(err, &ne) || ne.Code != "401" || ne.Target != "ghost" {
		t.Fatalf("error %v, want 401", err)
	}
	ch = sendAsync(c, "PRIVMSG", "NickServ", "identify")
	s.expect("PRIVMSG NickServ")
	s.send(":srv 477 alice NickServ :You need to be identified")
	if _, err := awaitSend(t, ch); !errors.As(err, &ne) || ne.Code != "477" {
		t.Fatalf("error %v, want 477", err)
	}
}

func TestUnconfirmedWithoutCaps(t *testing.T) {
	c, s := connect(t, Config{}, "server-time")
	d, err := c.SendMessage(t.Context(), nil, "PRIVMSG", "#chan", "hi")
	if err != nil || d.Confirmed {
		t.Fatalf("delivery %+v, %v; want unconfirmed, no error", d, err)
	}
	if m := s.expect("PRIVMSG #chan hi"); m.HasTag("label") {
		t.Error("label sent without labeled-response")
	}
}

func TestConfirmationTimeout(t *testing.T) {
	c, s := connect(t, Config{ConfirmTimeout: 100 * time.Millisecond}, "echo-message")
	d, err := c.SendMessage(t.Context(), nil, "PRIVMSG", "#chan", "lost")
	if !errors.Is(err, ErrUnconfirmed) || d == nil || d.Confirmed {
		t.Fatalf("delivery %+v, %v; want ErrUnconfirmed", d, err)
	}
	s.expect("PRIVMSG #chan lost")
}

func TestWaitersFailWhenConnectionEnds(t *testing.T) {
	c, s := connect(t, Config{}, "echo-message")
	ch := sendAsync(c, "PRIVMSG", "#chan", "x")
	s.expect("PRIVMSG #chan x")
	_ = s.conn.Close()
	if _, err := awaitSend(t, ch); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("error %v, want ErrDisconnected", err)
	}
}

func TestSendMessageRejectsOtherCommands(t *testing.T) {
	c, _ := connect(t, Config{}, "")
	if _, err := c.SendMessage(t.Context(), nil, "JOIN", "#chan", ""); !errors.Is(err, ErrInvalidLine) {
		t.Errorf("SendMessage(JOIN) = %v", err)
	}
	if _, err := c.SendMessage(t.Context(), nil, "PRIVMSG", "#chan", "a\nb"); !errors.Is(err, ErrInvalidLine) {
		t.Errorf("SendMessage with LF = %v", err)
	}
}

func TestBatches(t *testing.T) {
	rec := newRecorder()
	_, s := connect(t, Config{Handler: rec}, "batch server-time message-tags")
	s.send(":srv BATCH +ns netsplit irc.a irc.b",
		"@batch=ns :bob!b@h QUIT :irc.a irc.b",
		"@batch=ns :carol!c@h QUIT :irc.a irc.b",
		":srv BATCH -ns")
	b := rec.nextBatch(t)
	if b.Type != BatchNetsplit || len(b.Lines) != 2 || b.Params[0] != "irc.a" || b.Lines[1].Nick() != "carol" {
		t.Fatalf("netsplit batch %+v", b)
	}

	// Nested: a chathistory batch containing a multiline message.
	s.send("@label=x :srv BATCH +outer chathistory #chan",
		"@batch=outer;time=2026-01-01T00:00:00.000Z;msgid=h1 :bob!b@h PRIVMSG #chan :old",
		"@batch=outer;msgid=h2 :bob!b@h BATCH +inner draft/multiline #chan",
		"@batch=inner :bob!b@h PRIVMSG #chan :line one",
		"@batch=inner;draft/multiline-concat :bob!b@h PRIVMSG #chan : continued",
		"@batch=inner :bob!b@h PRIVMSG #chan :line two",
		":srv BATCH -inner",
		"@batch=outer :bob!b@h PRIVMSG #chan :after",
		":srv BATCH -outer")
	b = rec.nextBatch(t)
	if b.Type != BatchChathistory || b.Params[0] != "#chan" || len(b.Lines) != 2 || len(b.Nested) != 1 {
		t.Fatalf("chathistory batch: type %q params %v lines %d nested %d", b.Type, b.Params, len(b.Lines), len(b.Nested))
	}
	if ts, ok := ServerTime(b.Lines[0]); !ok || ts.Year() != 2026 || MsgID(b.Lines[0]) != "h1" {
		t.Errorf("line 0 time %v msgid %q", ts, MsgID(b.Lines[0]))
	}
	in := b.Nested[0]
	if in.Type != BatchMultiline || in.Tags["msgid"] != "h2" || in.Text() != "line one continued\nline two" {
		t.Errorf("nested multiline %q, text %q", in.Type, in.Text())
	}

	// A message naming an unknown batch is delivered on its own.
	s.send("@batch=nope :bob!b@h PRIVMSG #chan :stray")
	if m := rec.nextMsg(t); m.Params[1] != "stray" {
		t.Errorf("handler got %v", m.Params)
	}
	select {
	case m := <-rec.msgs:
		t.Errorf("batch line leaked to HandleMessage: %v", m.Params)
	default:
	}
}

// readBatches reads multiline batches until want lines have arrived,
// checking their framing, and returns the lines of each batch.
func readBatches(t *testing.T, s *fakeServer, want int) [][]*ircmsg.Message {
	t.Helper()
	var out [][]*ircmsg.Message
	for got := 0; got < want; {
		open := s.expect("BATCH +")
		ref := open.Params[0][1:]
		if open.Params[1] != BatchMultiline || open.Params[2] != "#chan" {
			t.Fatalf("batch opened with %v", open.Params)
		}
		var lines []*ircmsg.Message
		for {
			line := s.readLine()
			if line == "BATCH -"+ref {
				break
			}
			m := parse(t, line)
			if _, r := m.GetTag("batch"); r != ref {
				t.Fatalf("line %q outside its batch", line)
			}
			if len(lines) == 0 && m.HasTag(multilineConcatTag) {
				t.Fatal("batch starts with a concat line")
			}
			lines = append(lines, m)
		}
		got += len(lines)
		out = append(out, lines)
	}
	return out
}

func TestSendMultilineBatches(t *testing.T) {
	c, s := connect(t, Config{}, "batch draft/multiline=max-bytes=1000,max-lines=3 message-tags")
	long := strings.Repeat("é", 300) // 600 bytes: split exactly at characters
	lines := []string{"", "first", "second", "third", "fourth", long, ""}
	d, err := c.SendMultiline(t.Context(), map[string]string{"+draft/reply": "m1"}, "PRIVMSG", "#chan", lines)
	if err != nil || d.Confirmed {
		t.Fatalf("SendMultiline = %+v, %v (no echo caps: unconfirmed)", d, err)
	}
	batches := readBatches(t, s, 6)
	if len(batches) != 2 || len(batches[0]) != 3 || len(batches[1]) != 3 {
		t.Fatalf("batch sizes %d, want 3+3 (max-lines=3)", len(batches))
	}
	b := &Batch{Lines: append(batches[0], batches[1]...)}
	if got := b.Text(); got != "first\nsecond\nthird\nfourth\n"+long {
		t.Errorf("rebuilt text %q", got)
	}
}

func TestSendMultilineMaxBytes(t *testing.T) {
	c, s := connect(t, Config{}, "batch draft/multiline=max-bytes=25")
	line := strings.Repeat("a", 10)
	if _, err := c.SendMultiline(t.Context(), nil, "PRIVMSG", "#chan", []string{line, line, line}); err != nil {
		t.Fatal(err)
	}
	batches := readBatches(t, s, 3)
	for i, b := range batches {
		size := 0
		for _, m := range b {
			size += len(m.Params[1])
		}
		if size > 25 {
			t.Errorf("batch %d carries %d bytes, over max-bytes=25", i, size)
		}
	}
}

func TestSendMultilineFallback(t *testing.T) {
	c, s := connect(t, Config{}, "echo-message")
	ch := make(chan result, 1)
	go func() {
		d, err := c.SendMultiline(context.Background(), nil, "PRIVMSG", "#chan", []string{"one", "", "two"})
		ch <- result{d, err}
	}()
	s.expect("PRIVMSG #chan one")
	s.expect("PRIVMSG #chan two")
	s.send("@msgid=a :alice!a@h PRIVMSG #chan :one", "@msgid=b :alice!a@h PRIVMSG #chan :two")
	if d, err := awaitSend(t, ch); err != nil || !d.Confirmed || d.MsgID != "a" {
		t.Fatalf("fallback delivery %+v, %v", d, err)
	}
}

func TestSendMultilineEchoConfirms(t *testing.T) {
	c, s := connect(t, Config{}, "batch draft/multiline echo-message")
	ch := make(chan result, 1)
	go func() {
		d, err := c.SendMultiline(context.Background(), nil, "PRIVMSG", "#chan", []string{"a", "b"})
		ch <- result{d, err}
	}()
	s.expect("BATCH +")
	s.expect("PRIVMSG #chan a")
	s.expect("PRIVMSG #chan b")
	s.expect("BATCH -")
	s.send("@msgid=ml1 :alice!a@h BATCH +e draft/multiline #chan",
		"@batch=e :alice!a@h PRIVMSG #chan a",
		"@batch=e :alice!a@h PRIVMSG #chan b",
		":srv BATCH -e")
	if d, err := awaitSend(t, ch); err != nil || !d.Confirmed || d.MsgID != "ml1" {
		t.Fatalf("multiline echo delivery %+v, %v", d, err)
	}
}
