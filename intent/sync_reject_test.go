package intent

import (
	"fmt"
	"net/http"
	"testing"
)

// TestRejectedPositionOnlyForABadToken: the saved sync position (which
// carries what happened while the bridge was down) is dropped only when
// the homeserver says the token is bad, not on answers a proxy or a busy
// homeserver gives for other reasons.
func TestRejectedPositionOnlyForABadToken(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		want   bool
	}{
		{http.StatusBadRequest, "M_INVALID_PARAM", true},
		{http.StatusBadRequest, "M_UNKNOWN", true},
		{http.StatusBadRequest, "", true},
		{http.StatusBadRequest, "M_LIMIT_EXCEEDED", false},
		{http.StatusNotFound, "M_UNRECOGNIZED", false},
		{http.StatusRequestTimeout, "", false},
		{http.StatusRequestEntityTooLarge, "", false},
		{http.StatusUnauthorized, "M_UNKNOWN_TOKEN", false},
		{http.StatusForbidden, "M_FORBIDDEN", false},
		{http.StatusTooManyRequests, "M_LIMIT_EXCEEDED", false},
		{http.StatusBadGateway, "", false},
	} {
		err := fmt.Errorf("sync: %w", &HTTPError{Method: "GET", Path: "/sync", Status: tc.status, ErrCode: tc.code})
		if got := rejectedPosition(err); got != tc.want {
			t.Errorf("%d %q: position rejected = %v, want %v", tc.status, tc.code, got, tc.want)
		}
	}
}
