package xmpp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"syscall"
	"time"
)

// Errors of fetching an XMPP file link.
var (
	// ErrFileTooLarge: the file is larger than max_file_bytes.
	ErrFileTooLarge = errors.New("xmpp: file larger than max_file_bytes")
	// ErrPrivateAddress: the link resolves to an address the bridge does
	// not fetch from (fetch_private_urls is off).
	ErrPrivateAddress = errors.New("xmpp: link to a loopback, private or link-local address")
	// ErrBadLink: the link is not an http or https URL.
	ErrBadLink = errors.New("xmpp: not an http(s) link")
)

const (
	fetchTimeout   = 60 * time.Second
	fetchRedirects = 5
)

// fetcher downloads the files XMPP users share as links, bounded in
// size and time, over http and https only, and (unless allowed) never
// from loopback, private or link-local addresses: the check is made on
// the address each connection dials, so redirects and DNS answers
// cannot get around it.
type fetcher struct {
	client *http.Client
	max    int64
}

func newFetcher(max int64, allowPrivate bool) *fetcher {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		d.Control = refusePrivate
	}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
	}
	return &fetcher{max: max, client: &http.Client{
		Transport: tr,
		Timeout:   fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= fetchRedirects {
				return fmt.Errorf("xmpp: more than %d redirects", fetchRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return ErrBadLink
			}
			return nil
		},
	}}
}

// refusePrivate is a net.Dialer Control that refuses addresses that are
// not public.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return err
	}
	if !publicAddr(ip) {
		return ErrPrivateAddress
	}
	return nil
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicAddr reports whether ip is an address on the public internet.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !cgnat.Contains(ip)
}

// fetched is a downloaded file.
type fetched struct {
	data     []byte
	mimetype string
	name     string
}

// fetch downloads link.
func (f *fetcher) fetch(ctx context.Context, link string) (*fetched, error) {
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, ErrBadLink
	}
	if f.max <= 0 {
		return nil, ErrFileTooLarge
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("xmpp: fetch: %w", err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("xmpp: fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("xmpp: fetch: HTTP %d", resp.StatusCode)
	}
	if resp.ContentLength > f.max {
		return nil, ErrFileTooLarge
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, f.max+1))
	if err != nil {
		return nil, fmt.Errorf("xmpp: fetch: %w", err)
	}
	if int64(len(data)) > f.max {
		return nil, ErrFileTooLarge
	}
	return &fetched{data: data, mimetype: mediaType(resp.Header.Get("Content-Type"), data), name: fileName(resp.Request.URL)}, nil
}

// mediaType is the MIME type of a download: its Content-Type without
// parameters, or sniffed from the data when the server did not say.
func mediaType(header string, data []byte) string {
	mt, _, err := mime.ParseMediaType(header)
	if err != nil || mt == "" || mt == "application/octet-stream" {
		mt, _, _ = mime.ParseMediaType(http.DetectContentType(data))
	}
	return mt
}

// fileName is the last segment of a link's path, or "file".
func fileName(u *url.URL) string {
	name := path.Base(u.Path)
	if name == "" || name == "." || name == "/" {
		return "file"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
}
