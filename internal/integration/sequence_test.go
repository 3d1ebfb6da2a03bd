package integration

import (
	"fmt"
	"testing"
)

func TestCheckSequence(t *testing.T) {
	sent := make([]string, 6)
	for i := range sent {
		sent[i] = fmt.Sprintf("m %d", i)
	}
	tests := []struct {
		shown, ordered []string
		ok             bool
		want           string
	}{
		0: {sent, sent, true, "6 of 6 shown, 0 duplicated, in order"},
		1: {[]string{"m 0", "m 4", "m 5", "other"}, []string{"m 0", "m 4", "m 5"}, false,
			`3 of 6 shown, 0 duplicated, in order; missing: "m 1".."m 3"`},
		2: {append(append([]string{}, sent...), "m 3", "m 1", "m 2"), sent, false,
			`6 of 6 shown, 3 duplicated, in order; duplicated: "m 1".."m 3"`},
		3: {sent, []string{"m 0", "m 2", "m 1", "m 3", "m 5", "m 4"}, false,
			`6 of 6 shown, 0 duplicated, out of order: "m 1" shown after "m 2"`},
		4: {[]string{"m 1", "m 5"}, nil, false, `2 of 6 shown, 0 duplicated, in order; missing: "m 0", "m 2".."m 4"`},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			s := CheckSequence(sent, tc.shown, tc.ordered)
			if s.OK() != tc.ok || s.String() != tc.want {
				t.Errorf("CheckSequence = %v, %q; want %v, %q", s.OK(), s.String(), tc.ok, tc.want)
			}
		})
	}
}
