package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const password = "hunter2-correct-horse"

func mustBox(t *testing.T, keys ...Key) *Box {
	t.Helper()
	b, err := New(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKey(t *testing.T) {
	k := GenerateKey()
	good := []string{
		hex.EncodeToString(k[:]),
		strings.ToUpper(hex.EncodeToString(k[:])),
		base64.StdEncoding.EncodeToString(k[:]),
		base64.RawStdEncoding.EncodeToString(k[:]),
		base64.URLEncoding.EncodeToString(k[:]),
		" " + base64.RawURLEncoding.EncodeToString(k[:]) + "\n",
		k.String(),
	}
	for i, s := range good {
		t.Run(fmt.Sprint("good", i), func(t *testing.T) {
			got, err := ParseKey(s)
			if err != nil || got != k {
				t.Errorf("ParseKey: %v, equal %v", err, got == k)
			}
		})
	}
	bad := []string{"", "c2VjcmV0LXBhc3N3b3Jk", hex.EncodeToString(k[:31]), base64.StdEncoding.EncodeToString(append(k[:], 1)), "not a key at all"}
	for i, s := range bad {
		t.Run(fmt.Sprint("bad", i), func(t *testing.T) {
			_, err := ParseKey(s)
			if !errors.Is(err, ErrKey) {
				t.Fatalf("err = %v, want ErrKey", err)
			}
			if s != "" && strings.Contains(err.Error(), s) {
				t.Errorf("error %q repeats the key material", err)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	b := mustBox(t, GenerateKey())
	ad := Binding("@alice:example.org", "libera")
	env, err := b.Seal([]byte(password), ad)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(env, "v1:") || strings.Contains(env, password) {
		t.Errorf("envelope %q", env)
	}
	env2, _ := b.Seal([]byte(password), ad)
	if env == env2 {
		t.Error("two seals of the same value are equal: nonce not random")
	}
	got, err := b.Open(env, ad)
	if err != nil || string(got) != password {
		t.Fatalf("Open = %q, %v", got, err)
	}
	empty, _ := b.Seal(nil, ad)
	if got, err := b.Open(empty, ad); err != nil || len(got) != 0 {
		t.Errorf("empty secret: %q, %v", got, err)
	}
}

func TestOpenFailures(t *testing.T) {
	key := GenerateKey()
	b := mustBox(t, key)
	ad := Binding("@alice:example.org", "libera")
	env, _ := b.Seal([]byte(password), ad)
	raw, _ := base64.RawURLEncoding.DecodeString(env[3:])
	flip := func(i int) string {
		r := bytes.Clone(raw)
		r[i] ^= 1
		return "v1:" + base64.RawURLEncoding.EncodeToString(r)
	}
	tests := []struct {
		name string
		box  *Box
		env  string
		ad   []byte
		want error
	}{
		{"other user", b, env, Binding("@bob:example.org", "libera"), ErrDecrypt},
		{"other network", b, env, Binding("@alice:example.org", "oftc"), ErrDecrypt},
		{"field boundary", b, env, Binding("@alice:example.orglibera", ""), ErrDecrypt},
		{"no binding", b, env, nil, ErrDecrypt},
		{"tampered nonce", b, flip(5), ad, ErrDecrypt},
		{"tampered ciphertext", b, flip(20), ad, ErrDecrypt},
		{"tampered tag", b, flip(len(raw) - 1), ad, ErrDecrypt},
		{"tampered key id", b, flip(0), ad, ErrUnknownKey},
		{"wrong key", mustBox(t, GenerateKey()), env, ad, ErrUnknownKey},
		{"truncated", b, env[:20], ad, ErrFormat},
		{"no version", b, env[3:], ad, ErrFormat},
		{"future version", b, "v2:" + env[3:], ad, ErrFormat},
		{"bad base64", b, "v1:!!!" + env[6:], ad, ErrFormat},
		{"plaintext row", b, password, ad, ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.box.Open(tc.env, tc.ad)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %q, %v; want %v", got, err, tc.want)
			}
			if got != nil {
				t.Errorf("Open returned %q with an error", got)
			}
			msg := err.Error()
			for _, leak := range []string{password, env[3:20], key.String(), hex.EncodeToString(key[:])} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q contains secret material %q", msg, leak)
				}
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newKey := GenerateKey(), GenerateKey()
	ad := Binding("@alice:example.org", "libera")
	before := mustBox(t, oldKey)
	env, _ := before.Seal([]byte(password), ad)

	after := mustBox(t, newKey, oldKey)
	if !after.NeedsReseal(env) {
		t.Error("value sealed with the old key does not need resealing")
	}
	got, err := after.Open(env, ad)
	if err != nil || string(got) != password {
		t.Fatalf("open with old key listed second: %q, %v", got, err)
	}
	resealed, _ := after.Seal(got, ad)
	if after.NeedsReseal(resealed) || after.NeedsReseal("garbage") {
		t.Error("NeedsReseal true for a current or malformed envelope")
	}
	if _, err := before.Open(resealed, ad); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old-only box opened a value sealed with the new key: %v", err)
	}
	if _, err := mustBox(t, newKey).Open(resealed, ad); err != nil {
		t.Errorf("old key dropped after resealing: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(); !errors.Is(err, ErrKey) {
		t.Errorf("New() err = %v", err)
	}
	k := GenerateKey()
	if _, err := New(k, k); !errors.Is(err, ErrKey) {
		t.Errorf("duplicate key err = %v", err)
	}
}

func TestRedacted(t *testing.T) {
	type config struct {
		Password Redacted `json:"password"`
	}
	r := Redacted(password)
	cfg := config{Password: r}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("config", "password", r, "config", cfg)
	js, _ := json.Marshal(cfg)
	outputs := []string{
		fmt.Sprint(r), fmt.Sprintf("%s %v %q %x %X %d %10s", r, r, r, r, r, r, r),
		fmt.Sprintf("%#v", r), fmt.Sprintf("%+v %#v", cfg, cfg), fmt.Sprintf("%v", &cfg),
		logs.String(), string(js),
	}
	for i, out := range outputs {
		if strings.Contains(out, password) || !strings.Contains(out, RedactedText) {
			t.Errorf("output %d = %q: leaks or lacks the redaction", i, out)
		}
	}
	if r.Reveal() != password || !r.IsSet() || Redacted("").IsSet() {
		t.Error("Reveal/IsSet do not return the configured value")
	}
}

func FuzzOpen(f *testing.F) {
	b, _ := New(Key{1})
	env, _ := b.Seal([]byte(password), []byte("ad"))
	f.Add(env, []byte("ad"))
	f.Add("v1:", []byte(nil))
	f.Add("v1:AAAA", []byte("x"))
	f.Fuzz(func(t *testing.T, env string, ad []byte) {
		pt, err := b.Open(env, ad)
		if err == nil && (string(ad) != "ad" || string(pt) != password) {
			t.Fatalf("forged envelope opened: %q", pt)
		}
	})
}
