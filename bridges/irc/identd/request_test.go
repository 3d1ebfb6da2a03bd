package identd

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		line         string
		local, remot int
		err          error
	}{
		0:  {"6193, 23", 6193, 23, nil},
		1:  {"6193,23", 6193, 23, nil},
		2:  {" \t6193 , 23\t", 6193, 23, nil},
		3:  {"65535,1", 65535, 1, nil},
		4:  {"0,23", 0, 23, ErrPort},
		5:  {"65536,23", 65536, 23, ErrPort},
		6:  {"6193 23", 0, 0, ErrRequest},
		7:  {"a,b", 0, 0, ErrRequest},
		8:  {"+1,2", 0, 0, ErrRequest},
		9:  {"123456,2", 0, 2, ErrRequest},
		10: {",", 0, 0, ErrRequest},
		11: {"1,2,3", 1, 0, ErrRequest},
		12: {"", 0, 0, ErrRequest},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			l, r, err := ParseRequest(tc.line)
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("ParseRequest(%q) err = %v, want %v", tc.line, err, tc.err)
			}
			if err == nil && (l != tc.local || r != tc.remot) {
				t.Errorf("ParseRequest(%q) = %d, %d", tc.line, l, r)
			}
		})
	}
}

// FuzzParseRequest checks that any line parses without panicking, that
// accepted ports are in range, and that a reply never carries more than
// one line or any of the input beyond the two numbers.
func FuzzParseRequest(f *testing.F) {
	f.Add("6193, 23")
	f.Add("0,0")
	f.Add("99999 , 1")
	f.Add("\x00\r\n,\xff")
	f.Fuzz(func(t *testing.T, line string) {
		s := &Server{}
		s.Register(1, 2, "u")
		l, r, err := ParseRequest(line)
		if err == nil && (l < 1 || l > 65535 || r < 1 || r > 65535) {
			t.Fatalf("accepted ports %d, %d", l, r)
		}
		reply, ok := s.answer(line)
		if !ok {
			return
		}
		if strings.ContainsAny(reply, "\r\n\x00") {
			t.Fatalf("reply %q has a line break or NUL", reply)
		}
		want := fmt.Sprintf("%d , %d : ", l, r)
		if !strings.HasPrefix(reply, want) {
			t.Fatalf("reply %q does not start with the parsed ports", reply)
		}
	})
}
