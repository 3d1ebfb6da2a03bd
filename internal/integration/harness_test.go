package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/causewaybridge/causeway/matrix"
)

// generated is the shape of `generate-config -ci` output (v0.15.2), trimmed.
const generated = `version: 2
global:
  server_name: localhost
  private_key: matrix_key.pem
  disable_federation: false
  jetstream:
    in_memory: false
  report_stats:
    enabled: true
app_service_api:
  config_files: []
client_api:
  registration_disabled: true
  registration_shared_secret: complement
  rate_limiting:
    enabled: true
    threshold: 5
logging:
- type: std
  level: trace
`

func TestPatchDendriteConfig(t *testing.T) {
	out, err := patchDendriteConfig([]byte(generated), dendritePatch{
		PrivateKey: "/d/key.pem", SharedSecret: "s3cret", Registrations: []string{"/a/reg.yaml"},
		InMemoryQueue: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Global struct {
			PrivateKey        string `yaml:"private_key"`
			DisableFederation bool   `yaml:"disable_federation"`
			JetStream         struct {
				InMemory bool `yaml:"in_memory"`
			} `yaml:"jetstream"`
		} `yaml:"global"`
		AppService struct {
			ConfigFiles []string `yaml:"config_files"`
		} `yaml:"app_service_api"`
		ClientAPI struct {
			RegistrationDisabled bool   `yaml:"registration_disabled"`
			SharedSecret         string `yaml:"registration_shared_secret"`
			RateLimiting         struct {
				Enabled   bool `yaml:"enabled"`
				Threshold int  `yaml:"threshold"`
			} `yaml:"rate_limiting"`
		} `yaml:"client_api"`
		Logging []struct {
			Level string `yaml:"level"`
		} `yaml:"logging"`
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("patched config does not parse: %v\n%s", err, out)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"private_key", cfg.Global.PrivateKey, "/d/key.pem"},
		{"disable_federation", cfg.Global.DisableFederation, true},
		{"jetstream.in_memory", cfg.Global.JetStream.InMemory, true},
		{"config_files", strings.Join(cfg.AppService.ConfigFiles, ","), "/a/reg.yaml"},
		{"registration_disabled", cfg.ClientAPI.RegistrationDisabled, false},
		{"registration_shared_secret", cfg.ClientAPI.SharedSecret, "s3cret"},
		{"rate_limiting.enabled", cfg.ClientAPI.RateLimiting.Enabled, false},
		{"rate_limiting.threshold (untouched)", cfg.ClientAPI.RateLimiting.Threshold, 5},
		{"logging level", len(cfg.Logging) == 1 && cfg.Logging[0].Level == "info", true},
	}
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("%d: %s = %v, want %v", i, c.name, c.got, c.want)
		}
	}
}

func TestPatchDendriteConfigMissingSection(t *testing.T) {
	_, err := patchDendriteConfig([]byte("global:\n  server_name: localhost\n"), dendritePatch{})
	if err == nil || !strings.Contains(err.Error(), "jetstream") {
		t.Fatalf("got %v, want an error naming the missing section", err)
	}
}

// fakeTB records how RequireEnv ends a test.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Fatal(args ...any)     { f.fatal = args[0].(string) }
func (f *fakeTB) Skip(args ...any)      { f.skip = args[0].(string) }
func (f *fakeTB) Fatalf(string, ...any) { f.fatal = "fatalf" }

func TestRequireEnv(t *testing.T) {
	const name = "CAUSEWAY_TEST_REQUIRE_ENV_PROBE"
	cases := []struct {
		ci, value           string
		wantFatal, wantSkip bool
		wantReturn          string
	}{
		0: {ci: "", value: "x", wantReturn: "x"},
		1: {ci: "true", value: "x", wantReturn: "x"},
		2: {ci: "", value: "", wantSkip: true},
		3: {ci: "false", value: "", wantSkip: true},
		4: {ci: "true", value: "", wantFatal: true},
	}
	for i, c := range cases {
		t.Setenv("CI", c.ci)
		t.Setenv(name, c.value)
		f := &fakeTB{}
		got := RequireEnv(f, name)
		if got != c.wantReturn || (f.fatal != "") != c.wantFatal || (f.skip != "") != c.wantSkip {
			t.Errorf("%d: got %q fatal=%q skip=%q", i, got, f.fatal, f.skip)
		}
		if msg := f.fatal + f.skip; msg != "" && !strings.Contains(msg, name) {
			t.Errorf("%d: message %q does not name %s", i, msg, name)
		}
	}
}

// fakeHomeserver answers the few endpoints the client tests use.
func fakeHomeserver(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_matrix/client/v3/register", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Username string `json:"username"`
			Auth     *struct {
				Type    string `json:"type"`
				Session string `json:"session"`
			} `json:"auth"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		switch {
		case body.Username == "taken":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"errcode":"M_USER_IN_USE","error":"taken"}`))
		case body.Auth == nil:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"session":"s1","flows":[{"stages":["m.login.dummy"]}]}`))
		case body.Auth.Type == "m.login.dummy" && body.Auth.Session == "s1":
			_, _ = w.Write([]byte(`{"user_id":"@` + body.Username + `:hs","access_token":"tok"}`))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errcode":"M_FORBIDDEN","error":"bad auth"}`))
		}
	})
	mux.HandleFunc("GET /_matrix/client/v3/directory/room/{alias}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errcode":"M_MISSING_TOKEN","error":"no token"}`))
			return
		}
		if r.PathValue("alias") != "#a:hs" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errcode":"M_NOT_FOUND","error":"no alias"}`))
			return
		}
		_, _ = w.Write([]byte(`{"room_id":"!r:hs","servers":["hs"]}`))
	})
	var syncCount atomic.Int32
	mux.HandleFunc("GET /_matrix/client/v3/sync", func(w http.ResponseWriter, r *http.Request) {
		syncs := int(syncCount.Add(1))
		if got, want := r.URL.Query().Get("since"), map[int]string{1: "", 2: "b1", 3: "b2"}[syncs]; got != want {
			t.Errorf("sync %d: since = %q, want %q", syncs, got, want)
		}
		switch syncs {
		case 1:
			_, _ = w.Write([]byte(`{"next_batch":"b1","rooms":{"join":{"!r:hs":{"timeline":{"events":[
				{"type":"m.room.message","event_id":"$old","sender":"@b:hs","content":{"msgtype":"m.text","body":"old"}}]}}}}}`))
		case 2:
			_, _ = w.Write([]byte(`{"next_batch":"b2"}`))
		default:
			_, _ = w.Write([]byte(`{"next_batch":"b3","rooms":{"join":{"!r:hs":{"timeline":{"events":[
				{"type":"m.room.message","event_id":"$new","sender":"@b:hs","content":{"msgtype":"m.text","body":"new"}}]}}}}}`))
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestClientRegisterAndErrors(t *testing.T) {
	srv := fakeHomeserver(t)
	ctx := t.Context()
	c, err := Register(ctx, srv.URL, "alice", "pw")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if c.UserID != "@alice:hs" || c.AccessToken != "tok" {
		t.Errorf("register: got %s / %s", c.UserID, c.AccessToken)
	}
	if _, err := Register(ctx, srv.URL, "taken", "pw"); ErrCode(err) != "M_USER_IN_USE" {
		t.Errorf("register taken: got %v, want M_USER_IN_USE", err)
	}
	if room, err := c.ResolveAlias(ctx, "#a:hs"); err != nil || room != "!r:hs" {
		t.Errorf("resolve: got %s, %v", room, err)
	}
	_, err = c.ResolveAlias(ctx, "#b:hs")
	if ErrCode(err) != "M_NOT_FOUND" || !strings.Contains(err.Error(), "404") {
		t.Errorf("resolve unknown: got %v, want a 404 M_NOT_FOUND error", err)
	}
	anon := NewClient(srv.URL, "", "")
	if _, err := anon.ResolveAlias(ctx, "#a:hs"); ErrCode(err) != "M_MISSING_TOKEN" {
		t.Errorf("no token: got %v", err)
	}
}

func TestClientWaitResumesFromLastSync(t *testing.T) {
	srv := fakeHomeserver(t)
	c := NewClient(srv.URL, "@alice:hs", "tok")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ev, err := c.WaitForMessage(ctx, "!r:hs", "old")
	if err != nil || ev.ID != "$old" || ev.RoomID != "!r:hs" {
		t.Fatalf("first wait: got %+v, %v", ev, err)
	}
	// The second wait starts after the first answer: it needs two more polls.
	ev, err = c.WaitForEvent(ctx, func(ev *matrix.Event) bool { return ev.Type == matrix.EventMessage })
	if err != nil || ev.ID != "$new" {
		t.Fatalf("second wait: got %+v, %v; want $new", ev, err)
	}
}

func TestClientWaitGivesUp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"next_batch":"x"}`))
	}))
	t.Cleanup(srv.Close)
	c := NewClient(srv.URL, "@alice:hs", "tok")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.WaitForMessage(ctx, "!r:hs", "never")
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("got %v after %s, want a deadline error soon after 300ms", err, time.Since(start))
	}
}

// TestFreePortReserved: a port FreePort handed out is not handed out
// again while the test runs, by this process or by another one holding
// the lock of a port, and is free again once released.
func TestFreePortReserved(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice in one test", p)
		}
		seen[p] = true
	}
	release, ok := reservePort(40001)
	if !ok {
		t.Fatal("could not reserve a port nobody holds")
	}
	if _, again := reservePort(40001); again && runtime.GOOS == "linux" {
		t.Fatal("a reserved port was reserved again")
	}
	release()
	if r, ok := reservePort(40001); !ok {
		t.Fatal("a released port could not be reserved again")
	} else {
		r()
	}
}
