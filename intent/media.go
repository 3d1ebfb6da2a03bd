package intent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// UploadMedia uploads data as the user and returns its mxc:// URI.
func (i *Intent) UploadMedia(ctx context.Context, contentType, filename string, data []byte) (string, error) {
	if err := i.EnsureRegistered(ctx); err != nil {
		return "", err
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	q := url.Values{}
	if filename != "" {
		q.Set("filename", filename)
	}
	var out struct {
		ContentURI string `json:"content_uri"`
	}
	err := i.do(ctx, request{
		method:      http.MethodPost,
		path:        "/_matrix/media/v3/upload",
		query:       q,
		rawBody:     data,
		contentType: contentType,
		out:         &out,
	})
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", filename, err)
	}
	if !strings.HasPrefix(out.ContentURI, "mxc://") {
		return "", fmt.Errorf("upload %s: homeserver returned %q, not an mxc URI", filename, out.ContentURI)
	}
	return out.ContentURI, nil
}

// ParseMXC splits "mxc://server/mediaID".
func ParseMXC(mxc string) (server, mediaID string, err error) {
	rest, ok := strings.CutPrefix(mxc, "mxc://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an mxc URI (mxc://server/media_id)", mxc)
	}
	server, mediaID, ok = strings.Cut(rest, "/")
	if !ok || server == "" || mediaID == "" || strings.Contains(mediaID, "/") {
		return "", "", fmt.Errorf("%q is not an mxc URI (mxc://server/media_id)", mxc)
	}
	return server, mediaID, nil
}

// PublicMediaURL returns the unauthenticated download link of an mxc://
// URI under base, a homeserver's public base URL (a path prefix is kept, a
// trailing slash dropped): base/_matrix/media/v3/download/server/mediaID,
// which people without a Matrix account can open where the homeserver
// serves unauthenticated media. The core's bridges.Host MediaURL calls it
// with homeserver.public_url.
func PublicMediaURL(base, mxc string) (string, error) {
	server, id, err := ParseMXC(mxc)
	if err != nil {
		return "", err
	}
	if base == "" {
		return "", fmt.Errorf("link to %s: no public base URL", mxc)
	}
	return p(strings.TrimRight(base, "/")+"/_matrix/media/v3/download", server, id), nil
}

// DownloadMedia fetches the content of an mxc:// URI with authenticated
// media (/_matrix/client/v1/media/download), falling back to the legacy
// /_matrix/media/v3/download when the homeserver answers 404 or does not
// know the endpoint. It returns the bytes and their content type; answers
// larger than Options.MaxDownloadBytes are refused.
func (i *Intent) DownloadMedia(ctx context.Context, mxc string) ([]byte, string, error) {
	server, id, err := ParseMXC(mxc)
	if err != nil {
		return nil, "", err
	}
	var raw rawResponse
	err = i.do(ctx, request{method: http.MethodGet, path: p("/_matrix/client/v1/media/download", server, id), raw: &raw})
	var he *HTTPError
	if errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusMethodNotAllowed || he.ErrCode == "M_UNRECOGNIZED") {
		err = i.do(ctx, request{method: http.MethodGet, path: p("/_matrix/media/v3/download", server, id), raw: &raw})
	}
	if err != nil {
		return nil, "", fmt.Errorf("download %s: %w", mxc, err)
	}
	return raw.body, raw.contentType, nil
}
