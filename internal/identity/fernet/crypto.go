package fernet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// This file implements the Fernet specification (https://github.com/fernet/spec)
// on top of the standard library, exactly as Python's cryptography.fernet does
// it for Keystone, but with strict decoding and without any time checks:
// Keystone calls MultiFernet.decrypt without a TTL and checks expiry itself.

const (
	fernetVersion = 0x80
	keyLen        = 32                                 // signing key + encryption key
	tsOffset      = 1                                  // after the version byte
	ivOffset      = tsOffset + 8                       // after the timestamp
	headerLen     = ivOffset + aes.BlockSize           // version + timestamp + IV
	macLen        = sha256.Size                        // HMAC-SHA256 trailer
	minRawLen     = headerLen + aes.BlockSize + macLen // one ciphertext block at least
	maxTokenLen   = 8192                               // far above any Keystone token
	maxRawLen     = maxTokenLen / 4 * 3                // decoded size of maxTokenLen
	maxKeyFileLen = 4096                               // larger files are not keys
)

// rawToken is the URL-safe base64 alphabet without padding, strict about
// trailing bits so that every token has exactly one textual form.
var rawToken = base64.RawURLEncoding.Strict()

// key is one Fernet key split into its signing half and its AES-128 cipher.
type key struct {
	sign  []byte
	block cipher.Block
}

// parseKey decodes a Fernet key as stored in a key file: 32 bytes in URL-safe
// base64 with padding. Surrounding white space (a trailing newline written by
// an editor) is ignored, as Python's lenient decoder ignores it. Errors never
// include the key text.
func parseKey(text string) (*key, error) {
	raw, err := base64.URLEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(raw) != keyLen {
		return nil, errors.New("not a 32-byte url-safe base64 fernet key")
	}
	block, err := aes.NewCipher(raw[16:])
	if err != nil {
		return nil, fmt.Errorf("aes key: %w", err)
	}
	return &key{sign: raw[:16:16], block: block}, nil
}

// seal encrypts and signs plaintext at the given Unix time with the given IV
// and returns the raw (not yet base64-encoded) Fernet token.
func (k *key) seal(plaintext []byte, unix int64, iv *[aes.BlockSize]byte) []byte {
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	n := headerLen + len(plaintext) + pad
	out := make([]byte, n, n+macLen)
	out[0] = fernetVersion
	binary.BigEndian.PutUint64(out[tsOffset:], uint64(unix))
	copy(out[ivOffset:], iv[:])
	copy(out[headerLen:], plaintext)
	for i := headerLen + len(plaintext); i < n; i++ {
		out[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(k.block, iv[:]).CryptBlocks(out[headerLen:], out[headerLen:])
	mac := hmac.New(sha256.New, k.sign)
	mac.Write(out)
	return mac.Sum(out)
}

// open verifies the signature of a raw token that passed checkRaw and returns
// the decrypted plaintext. It reports false when the token was not signed by
// this key or its padding is malformed.
func (k *key) open(raw []byte) ([]byte, bool) {
	body, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	mac := hmac.New(sha256.New, k.sign)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return nil, false
	}
	ct := body[headerLen:]
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(k.block, body[ivOffset:headerLen]).CryptBlocks(pt, ct)
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, false
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return nil, false
		}
	}
	return pt[:len(pt)-pad], true
}

// encodeToken returns the token text Keystone hands out: URL-safe base64 with
// the '=' padding stripped.
func encodeToken(raw []byte) string {
	return rawToken.EncodeToString(raw)
}

// decodeToken turns token text into raw Fernet bytes and checks the framing
// that does not depend on a key: version byte, minimum length and whole
// cipher blocks. Padding is optional, as Keystone restores it before decoding.
// Unlike Python's lenient decoder, any character outside the URL-safe
// alphabet (white space included) makes the token invalid, so a token has a
// single textual form apart from its optional padding.
func decodeToken(token string) ([]byte, error) {
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	if trimmed := strings.TrimRight(token, "="); len(token)-len(trimmed) <= 2 {
		token = trimmed
	}
	// The decoder skips '\r' and '\n'; a token is one line of the alphabet.
	for i := 0; i < len(token); i++ {
		if c := token[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, fmt.Errorf("%w: not url-safe base64", ErrInvalidToken)
		}
	}
	raw, err := rawToken.DecodeString(token)
	if err != nil {
		return nil, fmt.Errorf("%w: not url-safe base64", ErrInvalidToken)
	}
	return raw, checkRaw(raw)
}

// checkRaw validates the key-independent structure of a raw Fernet token.
func checkRaw(raw []byte) error {
	switch {
	case len(raw) < minRawLen || len(raw) > maxRawLen:
		return fmt.Errorf("%w: bad length", ErrInvalidToken)
	case raw[0] != fernetVersion:
		return fmt.Errorf("%w: not a fernet token", ErrInvalidToken)
	case (len(raw)-headerLen-macLen)%aes.BlockSize != 0:
		return fmt.Errorf("%w: bad length", ErrInvalidToken)
	}
	return nil
}

// rawTimestamp returns the Unix time stored in a raw token that passed
// checkRaw.
func rawTimestamp(raw []byte) uint64 {
	return binary.BigEndian.Uint64(raw[tsOffset:ivOffset])
}
