// Package seal encrypts small secrets at rest with AES-256-GCM. A key ring lets an old key
// keep decrypting during a key rotation while everything new is sealed with the current one.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// version 1 format: 1 byte version, 4 bytes key id, 12 bytes nonce, ciphertext+tag.
const version = 1

// Box seals with the first key and opens with any.
type Box struct {
	keys []key
}

type key struct {
	id   [4]byte
	aead cipher.AEAD
}

// New builds a box; keys[0] is the current key. Each key is 32 bytes.
func New(keys ...[]byte) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no key")
	}
	b := &Box{}
	for _, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("seal: key must be 32 bytes, got %d", len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		sum := sha256.Sum256(k)
		var id [4]byte
		copy(id[:], sum[:4])
		b.keys = append(b.keys, key{id: id, aead: aead})
	}
	return b, nil
}

// Seal encrypts plaintext with the current key; ad binds it to its row (e.g. the channel id).
func (b *Box) Seal(plaintext, ad []byte) ([]byte, error) {
	k := b.keys[0]
	out := make([]byte, 1+4+12, 1+4+12+len(plaintext)+16)
	out[0] = version
	copy(out[1:5], k.id[:])
	if _, err := rand.Read(out[5:17]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return k.aead.Seal(out, out[5:17], plaintext, ad), nil
}

// ErrOpen means the data cannot be decrypted with any known key.
var ErrOpen = errors.New("seal: cannot decrypt (unknown key or tampered data)")

// Open decrypts what Seal produced with any key of the ring.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < 1+4+12+16 || sealed[0] != version {
		return nil, ErrOpen
	}
	for _, k := range b.keys {
		if [4]byte(sealed[1:5]) != k.id {
			continue
		}
		pt, err := k.aead.Open(nil, sealed[5:17], sealed[17:], ad)
		if err != nil {
			return nil, ErrOpen
		}
		return pt, nil
	}
	return nil, ErrOpen
}

// Current reports whether sealed uses the current key (rotation re-seals the rest).
func (b *Box) Current(sealed []byte) bool {
	return len(sealed) > 5 && [4]byte(sealed[1:5]) == b.keys[0].id
}

// LoadOrCreateKey reads a 32-byte key from path, creating it (mode 0600) on first use.
func LoadOrCreateKey(path string) ([]byte, error) {
	if k, err := os.ReadFile(path); err == nil {
		if len(k) != 32 {
			return nil, fmt.Errorf("seal: %s holds %d bytes, want 32", path, len(k))
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("seal: read key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("seal: generate key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("seal: create key: %w", err)
	}
	if _, err := f.Write(k); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal: write key: %w", err)
	}
	return k, f.Close()
}
