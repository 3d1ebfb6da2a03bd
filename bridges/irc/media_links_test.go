package irc

import (
	"fmt"
	"testing"
)

// TestMediaURL: IRC media links come from the host (homeserver.public_url)
// unless the deprecated irc.public_media_url is set, which then overrides
// it; a URI no link can be made of is sent as it is.
func TestMediaURL(t *testing.T) {
	tests := []struct {
		publicMediaURL, mxc, want string
	}{
		0: {"", "mxc://localhost/abc", testPublicURL + "/_matrix/media/v3/download/localhost/abc"},
		1: {"https://media.example.org/", "mxc://example.org/x-y", "https://media.example.org/_matrix/media/v3/download/example.org/x-y"},
		2: {"", "https://example.org/cat.png", "https://example.org/cat.png"},
		3: {"https://media.example.org", "mxc://localhost", "mxc://localhost"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			m := newModule(t, Config{PublicMediaURL: tt.publicMediaURL,
				Networks: map[string]*NetworkConfig{"test": {Address: "127.0.0.1:1"}}}, "")
			if got := m.mediaURL(tt.mxc); got != tt.want {
				t.Fatalf("mediaURL(%q) = %q, want %q", tt.mxc, got, tt.want)
			}
		})
	}
}
