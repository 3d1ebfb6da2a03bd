package netstate

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParseMode(t *testing.T) {
	is := DefaultISupport()
	if err := is.Apply("PREFIX=(qaohv)~&@%+", "CHANMODES=beI,k,flj,imnpst"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		modes   string
		args    []string
		want    []ModeChange
		wantErr bool
	}{
		0: {"+o-v", []string{"a", "b"}, []ModeChange{{Add: true, Mode: 'o', Arg: "a", Prefix: true}, {Mode: 'v', Arg: "b", Prefix: true}}, false},
		1: {"+lk-l", []string{"10", "key"}, []ModeChange{{Add: true, Mode: 'l', Arg: "10"}, {Add: true, Mode: 'k', Arg: "key"}, {Mode: 'l'}}, false},
		2: {"-k", []string{"*"}, []ModeChange{{Mode: 'k', Arg: "*"}}, false},
		3: {"+bI-e", []string{"m1", "m2", "m3"}, []ModeChange{{Add: true, Mode: 'b', Arg: "m1", List: true}, {Add: true, Mode: 'I', Arg: "m2", List: true}, {Mode: 'e', Arg: "m3", List: true}}, false},
		4: {"+Zi", nil, []ModeChange{{Add: true, Mode: 'Z'}, {Add: true, Mode: 'i'}}, false},
		5: {"+ov", []string{"a"}, []ModeChange{{Add: true, Mode: 'o', Arg: "a", Prefix: true}}, true},
		6: {"+i!m", nil, []ModeChange{{Add: true, Mode: 'i'}, {Add: true, Mode: 'm'}}, true},
		7: {"im", []string{"extra"}, []ModeChange{{Add: true, Mode: 'i'}, {Add: true, Mode: 'm'}}, false},
		8: {"", nil, nil, false},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, err := ParseMode(is, tc.modes, tc.args)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrMode)) {
				t.Errorf("err = %v, want error %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseMode(%q, %q) =\n %+v\nwant %+v", tc.modes, tc.args, got, tc.want)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	bad := []string{"ov)@+", "(ov@+", "(ov)@", "(o1)@+", "(oo)@@", "(ov)@@", "(abcdefghi)!\"#$%&'()"}
	for _, v := range bad {
		if _, err := ParsePrefix(v); !errors.Is(err, ErrISupport) {
			t.Errorf("ParsePrefix(%q) err = %v, want ErrISupport", v, err)
		}
	}
	p, err := ParsePrefix("(Yqaohv)!~&@%+")
	if err != nil || p.Modes != "Yqaohv" || p.Symbols != "!~&@%+" {
		t.Errorf("ParsePrefix = %+v, %v", p, err)
	}
}

// FuzzParseMode checks that any MODE line parses without panicking, that
// every change is a mode letter, and that applying it to a Network keeps
// the state consistent.
func FuzzParseMode(f *testing.F) {
	f.Add("(qaohv)~&@%+", "beI,k,l,imnpst", "+ov-h", "alice bob carol")
	f.Add("(ov)@+", "b,k,l,imnst", "+kl-b+i", "key 10 *!*@x")
	f.Add("", "beI,k,l,imnpst", "+-+-", "")
	f.Add("(ov)@+", ",,,", "+\x00\xff o", "a b")
	f.Fuzz(func(t *testing.T, prefix, chanmodes, modes, args string) {
		n := New(Options{TrackLists: true})
		_ = n.ApplyISupport("PREFIX="+prefix, "CHANMODES="+chanmodes)
		argv := strings.Fields(args)
		got, err := ParseMode(n.ISupport(), modes, argv)
		if err != nil && !errors.Is(err, ErrMode) {
			t.Fatalf("error does not wrap ErrMode: %v", err)
		}
		used := 0
		for _, mc := range got {
			if !isModeLetter(mc.Mode) {
				t.Fatalf("change for non-letter %q", mc.Mode)
			}
			if mc.Arg != "" {
				used++
			}
		}
		if used > len(argv) {
			t.Fatalf("%d parameters used, %d given", used, len(argv))
		}
		for _, a := range argv {
			n.Join("#c", a, "", "")
		}
		if _, err := n.Mode("#c", "op", modes, argv); err != nil && !errors.Is(err, ErrMode) {
			t.Fatal(err)
		}
		for _, m := range n.Members("#c") {
			if len(m.Modes) != len(m.Prefix) {
				t.Fatalf("member %+v: modes and symbols differ", m)
			}
		}
	})
}
