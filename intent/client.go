package intent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/causewaybridge/causeway/matrix"
)

// The default HTTP client's keep-alive pool (see NewClient): idle
// connections kept per homeserver host, and how long one may stay idle.
const (
	idleConnsPerHost = 16
	idleConnTimeout  = 30 * time.Second
)

// StateStore persists what the client learns about puppets so that a restart
// does not re-register every puppet or rejoin every room. *store.Store
// implements it; a nil StateStore keeps the state in memory only.
type StateStore interface {
	MarkRegistered(ctx context.Context, userID string) error
	IsRegistered(ctx context.Context, userID string) (bool, error)
	SetMembership(ctx context.Context, roomID, userID, membership string) error
	Membership(ctx context.Context, roomID, userID string) (string, error)
}

// Options configures a Client.
type Options struct {
	// HomeserverURL is the client-server API base, e.g. "http://localhost:8008".
	HomeserverURL string
	// ASToken is the appservice token sent as "Authorization: Bearer". It is
	// never logged.
	ASToken string
	// ServerName is the homeserver's server name, used to build the bot's
	// user ID from BotLocalpart.
	ServerName string
	// BotLocalpart is the registration's sender_localpart.
	BotLocalpart string
	// BotUserID overrides "@BotLocalpart:ServerName" when set.
	BotUserID matrix.UserID
	// HTTPClient defaults to a client without an overall timeout (each
	// request gets RequestTimeout instead).
	HTTPClient *http.Client
	// RequestTimeout bounds one HTTP request (default 60s); /sync long polls
	// get their poll timeout on top of it.
	RequestTimeout time.Duration
	// Logger defaults to a logger that discards everything.
	Logger *slog.Logger
	// StateStore persists registrations and memberships (optional).
	StateStore StateStore
	// Retry is the retry policy for transient failures.
	Retry RetryPolicy
	// CacheSize bounds each in-memory cache (registered users, memberships,
	// power levels, profiles); default 10000 entries each.
	CacheSize int
	// MaxDownloadBytes bounds DownloadMedia (default 100 MiB).
	MaxDownloadBytes int64
}

// Client talks to the homeserver on behalf of the appservice: the bot and
// every puppet. It is safe for concurrent use.
type Client struct {
	base        *url.URL
	token       string
	bot         matrix.UserID
	http        *http.Client
	timeout     time.Duration
	log         *slog.Logger
	retry       RetryPolicy
	maxDownload int64
	state       *stateCache
}

// New returns a Client for opts. It does no I/O.
func New(opts Options) (*Client, error) {
	if opts.HomeserverURL == "" {
		return nil, errors.New("intent: homeserver URL is required")
	}
	base, err := url.Parse(strings.TrimRight(opts.HomeserverURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("intent: invalid homeserver URL %q", opts.HomeserverURL)
	}
	if opts.ASToken == "" {
		return nil, errors.New("intent: as_token is required")
	}
	bot := opts.BotUserID
	if bot == "" {
		if opts.BotLocalpart == "" || opts.ServerName == "" {
			return nil, errors.New("intent: bot user ID, or bot localpart and server name, are required")
		}
		bot = matrix.UserID("@" + opts.BotLocalpart + ":" + opts.ServerName)
	}
	if !bot.Valid() {
		return nil, fmt.Errorf("intent: invalid bot user ID %q", bot)
	}
	c := &Client{
		base:        base,
		token:       opts.ASToken,
		bot:         bot,
		http:        opts.HTTPClient,
		timeout:     opts.RequestTimeout,
		log:         opts.Logger,
		retry:       opts.Retry.withDefaults(),
		maxDownload: opts.MaxDownloadBytes,
	}
	if c.http == nil {
		// The default transport keeps only 2 idle connections per host;
		// puppets and outbox workers talk to one homeserver concurrently,
		// and steady traffic (one room's messages are sent one after the
		// other) reuses a few connections. A burst of parallel requests
		// (many puppets joining at once) opens more, and each idle one
		// costs two goroutines and their buffers (about 16 KiB): keep at
		// most idleConnsPerHost of them, and close those left idle for
		// idleConnTimeout.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = idleConnsPerHost
		tr.IdleConnTimeout = idleConnTimeout
		c.http = &http.Client{Transport: tr}
	}
	if c.timeout <= 0 {
		c.timeout = 60 * time.Second
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.maxDownload <= 0 {
		c.maxDownload = 100 << 20
	}
	size := opts.CacheSize
	if size <= 0 {
		size = 10000
	}
	c.state = newStateCache(size, opts.StateStore)
	return c, nil
}

// BotUserID returns the appservice bot's user ID.
func (c *Client) BotUserID() matrix.UserID { return c.bot }

// Intent returns the handle for acting as userID (a puppet, or the bot).
func (c *Client) Intent(userID matrix.UserID) *Intent {
	return &Intent{c: c, user: userID}
}

// Bot returns the handle for acting as the appservice bot.
func (c *Client) Bot() *Intent { return c.Intent(c.bot) }

// Membership returns user's membership in room as the client last saw it
// (its own calls and the room's events the core observed: "join",
// "leave", "invite", "ban", "knock"), or "" when it knows none. It asks
// the homeserver nothing.
func (c *Client) Membership(ctx context.Context, room matrix.RoomID, user matrix.UserID) (string, error) {
	return c.state.membership(ctx, room, user)
}

// request describes one call to the homeserver.
type request struct {
	method string
	// path is the URL path with every variable segment already escaped
	// (build it with the p helper).
	path  string
	query url.Values
	// as is the user to masquerade as with ?user_id= (empty: the bot).
	as matrix.UserID
	// body is JSON-encoded unless rawBody is set.
	body        any
	rawBody     []byte
	contentType string
	// out receives the decoded JSON answer when non-nil.
	out any
	// raw, when non-nil, receives the undecoded answer and its content type.
	raw *rawResponse
	// timeout overrides the client's request timeout (for /sync).
	timeout time.Duration
}

type rawResponse struct {
	body        []byte
	contentType string
}

// p builds a request path: prefix is used as it is ("/_matrix/client/v3/rooms")
// and every following segment is escaped, so IDs containing "/", "#" or "?"
// stay one segment.
func p(prefix string, segments ...string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// do performs r, retrying transient failures according to the retry policy.
// Each retry waits on its own timer: other calls are never blocked.
func (c *Client) do(ctx context.Context, r request) error {
	maxAttempts := attemptsFrom(ctx, c.retry.MaxAttempts)
	for attempt := 1; ; attempt++ {
		err := c.once(ctx, r)
		if err == nil || !IsTransient(err) || attempt >= maxAttempts {
			return err
		}
		d := c.retry.Delay(attempt, err)
		c.log.DebugContext(ctx, "retrying homeserver request",
			slog.String("method", r.method), slog.String("path", r.path),
			slog.Int("attempt", attempt), slog.Duration("delay", d), slog.Any("err", err))
		if serr := sleep(ctx, d); serr != nil {
			return fmt.Errorf("%w (gave up waiting to retry: %w)", err, serr)
		}
	}
}

// once performs a single HTTP exchange for r.
func (c *Client) once(ctx context.Context, r request) error {
	timeout := c.timeout + r.timeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req, err := c.newHTTPRequest(ctx, r)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return fmt.Errorf("%s %s: %w", r.method, r.path, context.Canceled)
		}
		return &transportError{err: fmt.Errorf("%s %s: %w", r.method, r.path, stripURL(err))}
	}
	defer resp.Body.Close()
	limit := int64(16 << 20)
	if r.raw != nil {
		limit = c.maxDownload
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return &transportError{err: fmt.Errorf("%s %s: read answer: %w", r.method, r.path, stripURL(err))}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseHTTPError(r, resp, data)
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("%s %s: answer larger than %d bytes", r.method, r.path, limit)
	}
	if r.raw != nil {
		r.raw.body = data
		r.raw.contentType = resp.Header.Get("Content-Type")
		return nil
	}
	if r.out != nil {
		if err := json.Unmarshal(data, r.out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", r.method, r.path, err)
		}
	}
	return nil
}

func (c *Client) newHTTPRequest(ctx context.Context, r request) (*http.Request, error) {
	q := url.Values{}
	for k, v := range r.query {
		q[k] = v
	}
	if r.as != "" && r.as != c.bot {
		q.Set("user_id", string(r.as))
	}
	u := *c.base
	u.RawPath = c.base.EscapedPath() + r.path
	if unescaped, err := url.PathUnescape(u.RawPath); err == nil {
		u.Path = unescaped
	} else {
		return nil, fmt.Errorf("%s %s: bad path: %w", r.method, r.path, err)
	}
	u.RawQuery = q.Encode()

	var body io.Reader
	contentType := r.contentType
	switch {
	case r.rawBody != nil:
		body = bytes.NewReader(r.rawBody)
	case r.body != nil:
		data, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", r.method, r.path, err)
		}
		body = bytes.NewReader(data)
		contentType = "application/json"
	case r.method == http.MethodPost || r.method == http.MethodPut:
		body = strings.NewReader("{}")
		contentType = "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// stripURL removes the request URL from *url.Error so that query parameters
// never reach error messages and logs.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func parseHTTPError(r request, resp *http.Response, data []byte) error {
	he := &HTTPError{Method: r.method, Path: r.path, Status: resp.StatusCode}
	var body struct {
		ErrCode      string `json:"errcode"`
		Error        string `json:"error"`
		RetryAfterMS int64  `json:"retry_after_ms"`
	}
	if json.Unmarshal(data, &body) == nil {
		he.ErrCode = body.ErrCode
		he.Message = body.Error
		he.RetryAfter = time.Duration(body.RetryAfterMS) * time.Millisecond
	}
	if he.RetryAfter == 0 {
		if s := resp.Header.Get("Retry-After"); s != "" {
			if secs, err := strconv.Atoi(s); err == nil && secs > 0 {
				he.RetryAfter = time.Duration(secs) * time.Second
			} else if t, err := http.ParseTime(s); err == nil {
				he.RetryAfter = max(time.Until(t), 0)
			}
		}
	}
	return he
}

// tsQuery returns the ?ts= parameter for t (nil for the zero time).
func tsQuery(q url.Values, t time.Time) url.Values {
	if t.IsZero() {
		return q
	}
	if q == nil {
		q = url.Values{}
	}
	q.Set("ts", strconv.FormatInt(t.UnixMilli(), 10))
	return q
}

// Ping asks the homeserver to ping the appservice (POST
// /_matrix/client/v1/appservice/{appserviceID}/ping) and returns the round
// trip it measured. Homeservers without the endpoint (Dendrite) yield an
// error matching ErrUnsupported.
func (c *Client) Ping(ctx context.Context, appserviceID, txnID string) (time.Duration, error) {
	var out struct {
		DurationMS int64 `json:"duration_ms"`
	}
	body := map[string]string{}
	if txnID != "" {
		body["transaction_id"] = txnID
	}
	err := c.do(ctx, request{
		method: http.MethodPost,
		path:   p("/_matrix/client/v1/appservice", appserviceID, "ping"),
		body:   body,
		out:    &out,
	})
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			return 0, fmt.Errorf("ping appservice %s: %w: %w", appserviceID, ErrUnsupported, err)
		}
		return 0, fmt.Errorf("ping appservice %s: %w", appserviceID, err)
	}
	return time.Duration(out.DurationMS) * time.Millisecond, nil
}
