// Package secret encrypts users' stored IRC passwords (SASL, NickServ) at
// rest, and keeps configured passwords out of logs.
//
// A [Box] seals with AES-256-GCM under the first of its keys and opens with
// any of them, so keys can be rotated: put the new key first, keep the old
// ones until every row has been resealed ([Box.NeedsReseal]). Each sealed
// value is bound to associated data, normally [Binding] of the Matrix user
// and the network, so a ciphertext copied to another user's row does not
// open. The envelope is text: "v1:" and unpadded base64url of a 4-byte key
// ID, a random 12-byte nonce and the ciphertext with its tag.
//
// Errors never contain keys, plaintexts or envelopes.
package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

// Errors returned by this package; wrap-checked with errors.Is.
var (
	// ErrKey: a key is not 32 bytes in base64 or hex.
	ErrKey = errors.New("secret: key must be 32 bytes, base64 or hex encoded")
	// ErrFormat: an envelope is not of a known version and layout.
	ErrFormat = errors.New("secret: malformed envelope")
	// ErrUnknownKey: an envelope was sealed with a key the Box lacks.
	ErrUnknownKey = errors.New("secret: sealed with an unknown key")
	// ErrDecrypt: the envelope was tampered with, or the associated data
	// differs from sealing time.
	ErrDecrypt = errors.New("secret: decryption failed (tampered or wrong associated data)")
)

const (
	version   = "v1:"
	keyIDSize = 4
	nonceSize = 12
)

// Key is an AES-256 key.
type Key [KeySize]byte

// ParseKey parses a 32-byte key given as hex (64 digits) or standard or
// URL-safe base64, padded or not. Surrounding spaces are ignored. The error
// does not repeat the input.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	var k Key
	decoders := []func(string) ([]byte, error){
		hex.DecodeString,
		base64.StdEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString,
		base64.RawURLEncoding.DecodeString,
	}
	for _, dec := range decoders {
		if b, err := dec(s); err == nil && len(b) == KeySize {
			copy(k[:], b)
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("parse key of %d characters: %w", len(s), ErrKey)
}

// GenerateKey returns a new random key.
func GenerateKey() Key {
	var k Key
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails (Go 1.24+)
	return k
}

// String encodes k as standard base64, the form [ParseKey] reads; it is
// meant for writing new configuration, never for logs.
func (k Key) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// id names a key in envelopes without revealing it.
func (k Key) id() [keyIDSize]byte {
	h := sha256.Sum256(append([]byte("causeway secret key id\x00"), k[:]...))
	return [keyIDSize]byte(h[:keyIDSize])
}

type sealer struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// Box seals and opens secrets. It is safe for concurrent use.
type Box struct {
	sealers []sealer
}

// New returns a Box that seals with keys[0] and opens with any of keys.
func New(keys ...Key) (*Box, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("new box: no key: %w", ErrKey)
	}
	b := &Box{}
	for i, k := range keys {
		block, err := aes.NewCipher(k[:])
		if err != nil {
			return nil, fmt.Errorf("new box: key %d: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("new box: key %d: %w", i, err)
		}
		id := k.id()
		for _, s := range b.sealers {
			if s.id == id {
				return nil, fmt.Errorf("new box: key %d is listed twice: %w", i, ErrKey)
			}
		}
		b.sealers = append(b.sealers, sealer{id: id, aead: aead})
	}
	return b, nil
}

// Binding returns associated data that ties a stored secret to a Matrix
// user and an IRC network: a value sealed for one pair does not open for
// another. Fields are length-prefixed, so no two pairs give the same bytes.
func Binding(userID, network string) []byte {
	var b bytes.Buffer
	for _, f := range []string{"causeway irc password", userID, network} {
		fmt.Fprintf(&b, "%d:%s", len(f), f)
	}
	return b.Bytes()
}

// Seal encrypts plaintext bound to associatedData and returns the envelope.
func (b *Box) Seal(plaintext, associatedData []byte) (string, error) {
	s := b.sealers[0]
	buf := make([]byte, keyIDSize+nonceSize, keyIDSize+nonceSize+len(plaintext)+s.aead.Overhead())
	copy(buf, s.id[:])
	if _, err := rand.Read(buf[keyIDSize:]); err != nil {
		return "", fmt.Errorf("seal: nonce: %w", err)
	}
	buf = s.aead.Seal(buf, buf[keyIDSize:], plaintext, ad(associatedData))
	return version + base64.RawURLEncoding.EncodeToString(buf), nil
}

// ad prefixes the envelope version so that it is authenticated too.
func ad(associatedData []byte) []byte {
	return append([]byte(version), associatedData...)
}

// Open decrypts an envelope made by Seal with the same associatedData.
func (b *Box) Open(envelope string, associatedData []byte) ([]byte, error) {
	s, raw, err := b.parse(envelope)
	if err != nil {
		return nil, err
	}
	pt, err := s.aead.Open(nil, raw[keyIDSize:keyIDSize+nonceSize], raw[keyIDSize+nonceSize:], ad(associatedData))
	if err != nil {
		return nil, fmt.Errorf("open: %w", ErrDecrypt)
	}
	return pt, nil
}

// NeedsReseal reports whether an envelope was sealed with a key other than
// the first, so that it should be opened and sealed again after a key
// rotation. Malformed envelopes report false; Open reports their error.
func (b *Box) NeedsReseal(envelope string) bool {
	s, _, err := b.parse(envelope)
	return err == nil && s.id != b.sealers[0].id
}

func (b *Box) parse(envelope string) (sealer, []byte, error) {
	body, ok := strings.CutPrefix(envelope, version)
	if !ok {
		return sealer{}, nil, fmt.Errorf("open: unknown version: %w", ErrFormat)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < keyIDSize+nonceSize+b.sealers[0].aead.Overhead() {
		return sealer{}, nil, fmt.Errorf("open: bad encoding or length: %w", ErrFormat)
	}
	for _, s := range b.sealers {
		if bytes.Equal(s.id[:], raw[:keyIDSize]) {
			return s, raw, nil
		}
	}
	return sealer{}, nil, fmt.Errorf("open: %w", ErrUnknownKey)
}
