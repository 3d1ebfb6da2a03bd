package ircconn

import (
	"context"
	"errors"
	"testing"
)

// TestSendMultilineEachDeliveries: a message over max-lines goes in two
// batches, the reply tag only on the first, and each batch's echo gives its
// own msgid, in order.
func TestSendMultilineEachDeliveries(t *testing.T) {
	c, s := connect(t, Config{}, "batch draft/multiline=max-lines=2 echo-message message-tags")
	type res struct {
		ds  []*Delivery
		err error
	}
	ch := make(chan res, 1)
	go func() {
		ds, err := c.SendMultilineEach(context.Background(), map[string]string{"+draft/reply": "m1"}, "PRIVMSG", "#chan", []string{"a", "b", "c"})
		ch <- res{ds, err}
	}()
	first := s.expect("BATCH +")
	if ok, v := first.GetTag("+draft/reply"); !ok || v != "m1" {
		t.Errorf("first batch without the reply tag: %v", first)
	}
	s.expect("PRIVMSG #chan a")
	s.expect("PRIVMSG #chan b")
	s.expect("BATCH -")
	second := s.expect("BATCH +")
	if second.HasTag("+draft/reply") {
		t.Errorf("second batch repeats the reply tag: %v", second)
	}
	s.expect("PRIVMSG #chan c")
	s.expect("BATCH -")
	s.send("@msgid=one :alice!a@h BATCH +e draft/multiline #chan",
		"@batch=e :alice!a@h PRIVMSG #chan a",
		"@batch=e :alice!a@h PRIVMSG #chan b",
		":srv BATCH -e",
		"@msgid=two :alice!a@h BATCH +f draft/multiline #chan",
		"@batch=f :alice!a@h PRIVMSG #chan c",
		":srv BATCH -f")
	var r res
	select {
	case r = <-ch:
	case <-t.Context().Done():
		t.Fatal("SendMultilineEach did not return")
	}
	if r.err != nil || len(r.ds) != 2 || r.ds[0].MsgID != "one" || r.ds[1].MsgID != "two" || !r.ds[1].Confirmed {
		t.Fatalf("SendMultilineEach = %+v, %v; want the deliveries of msgid one, two", r.ds, r.err)
	}
}

// TestSendMultilineEachNeedsTheCap: without draft/multiline nothing is sent.
func TestSendMultilineEachNeedsTheCap(t *testing.T) {
	c, _ := connect(t, Config{}, "batch echo-message")
	if _, err := c.SendMultilineEach(t.Context(), nil, "PRIVMSG", "#chan", []string{"a", "b"}); !errors.Is(err, ErrNoMultiline) {
		t.Fatalf("err = %v, want ErrNoMultiline", err)
	}
}
