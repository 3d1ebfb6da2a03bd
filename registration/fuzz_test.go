package registration

import "testing"

// FuzzParse: any bytes as a registration give one that validates, or an
// error, never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("id: x\nurl: http://a\nas_token: a\nhs_token: h\nsender_localpart: b\n"))
	f.Add([]byte("id: x\nurl: http://a\nas_token: a\nhs_token: h\nsender_localpart: b\nnamespaces: {users: [{regex: '('}]}\n"))
	f.Add([]byte("[1, 2"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid registration: %v", err)
		}
	})
}
