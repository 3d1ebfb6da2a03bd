package core

import (
	"fmt"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/config"
)

// TestHostMediaURL: a module's Host.MediaURL builds the public download
// link of an mxc URI under homeserver.public_url (default: homeserver.url),
// and refuses anything that is not mxc://server/id with an error naming it.
func TestHostMediaURL(t *testing.T) {
	const base = "homeserver:\n  url: http://127.0.0.1:8008\n  server_name: localhost\n"
	tests := []struct {
		config, mxc, want, err string
	}{
		0: {base, "mxc://localhost/abcDEF123", "http://127.0.0.1:8008/_matrix/media/v3/download/localhost/abcDEF123", ""},
		1: {base + "  public_url: https://matrix.example.org\n", "mxc://example.org/x_y-z",
			"https://matrix.example.org/_matrix/media/v3/download/example.org/x_y-z", ""},
		// A path prefix (a proxy) is kept, its trailing slash dropped.
		2: {base + "  public_url: https://example.org/matrix/\n", "mxc://other.net:8448/id",
			"https://example.org/matrix/_matrix/media/v3/download/other.net:8448/id", ""},
		3: {base, "https://example.org/cat.png", "", `"https://example.org/cat.png" is not an mxc URI`},
		4: {base, "", "", `"" is not an mxc URI`},
		5: {base, "mxc://localhost", "", `"mxc://localhost" is not an mxc URI`},
		6: {base, "mxc:///id", "", `"mxc:///id" is not an mxc URI`},
		7: {base, "mxc://localhost/a/b", "", `"mxc://localhost/a/b" is not an mxc URI`},
		// A media ID is one path segment: what would change the path is escaped.
		8: {base, "mxc://localhost/a?b#c", "http://127.0.0.1:8008/_matrix/media/v3/download/localhost/a%3Fb%23c", ""},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			cfg, err := config.Parse([]byte(tt.config), "c", func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			h := &host{b: &Bridge{cfg: cfg}}
			got, err := h.MediaURL(tt.mxc)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("MediaURL(%q) = %q, %v; want an error containing %q", tt.mxc, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("MediaURL(%q) = %q, %v; want %q", tt.mxc, got, err, tt.want)
			}
		})
	}
}
