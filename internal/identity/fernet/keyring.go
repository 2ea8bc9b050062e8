package fernet

import (
	"crypto/aes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"
)

// Keyring holds the keys of a key repository and issues and validates tokens
// with them. It is safe for concurrent use; Reload swaps in the keys on disk
// without disturbing calls in flight.
type Keyring struct {
	dir  string
	keys atomic.Pointer[keySet]

	// Test hooks; nil means time.Now and crypto/rand.
	now  func() time.Time
	rand io.Reader
}

// keySet is one loaded generation of keys, primary first.
type keySet struct {
	keys []*key
}

// Load reads the key repository in dir into a Keyring. It fails when the
// directory holds no key or a key file that is not a Fernet key.
func Load(dir string) (*Keyring, error) {
	k := &Keyring{dir: dir}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload reads the key repository again, typically after Rotate. When the
// repository cannot be read the keyring keeps its current keys and the error
// is returned.
func (k *Keyring) Reload() error {
	files, err := readKeyFiles(k.dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("%w: %s", ErrNoKeys, k.dir)
	}
	ids := make([]int, 0, len(files))
	for id := range files {
		ids = append(ids, id)
	}
	// Keystone's load_keys: sorted by key number, descending, so the
	// highest number is the primary key and the staged key 0 comes last.
	slices.Sort(ids)
	slices.Reverse(ids)
	set := &keySet{keys: make([]*key, len(ids))}
	for i, id := range ids {
		if set.keys[i], err = parseKey(files[id]); err != nil {
			return fmt.Errorf("fernet: key file %d in %s: %w", id, k.dir, err)
		}
	}
	k.keys.Store(set)
	return nil
}

// Issue returns a token carrying p, signed and encrypted with the primary key.
// The token's Fernet timestamp is p.IssuedAt when set (truncated to the
// second) and the current time otherwise.
func (k *Keyring) Issue(p Payload) (string, error) {
	issued := p.IssuedAt
	if issued.IsZero() {
		issued = k.clock()
	}
	var iv [aes.BlockSize]byte
	if _, err := io.ReadFull(k.random(), iv[:]); err != nil {
		return "", fmt.Errorf("fernet: read random iv: %w", err)
	}
	return k.issue(&p, issued, &iv)
}

// issue is Issue with the timestamp and IV supplied, for golden tests.
func (k *Keyring) issue(p *Payload, issued time.Time, iv *[aes.BlockSize]byte) (string, error) {
	if issued.Unix() < 0 || issued.After(maxTime) {
		return "", fmt.Errorf("%w: issue time out of range", ErrInvalidPayload)
	}
	data, err := encodePayload(p)
	if err != nil {
		return "", err
	}
	set := k.keys.Load()
	if set == nil {
		return "", fmt.Errorf("%w: keyring not loaded", ErrNoKeys)
	}
	return encodeToken(set.keys[0].seal(data, issued.Unix(), iv)), nil
}

// Validate decrypts token with any key of the keyring, primary first, and
// returns its payload with IssuedAt set from the Fernet timestamp. It does not
// check expiry: the caller compares ExpiresAt with the current time, which
// lets it honour Keystone's allow_expired. Every failure wraps
// ErrInvalidToken.
func (k *Keyring) Validate(token string) (Payload, error) {
	raw, err := decodeToken(token)
	if err != nil {
		return Payload{}, err
	}
	ts := rawTimestamp(raw)
	if ts > uint64(maxTime.Unix()) {
		return Payload{}, fmt.Errorf("%w: timestamp out of range", ErrInvalidToken)
	}
	set := k.keys.Load()
	if set == nil {
		return Payload{}, fmt.Errorf("%w: keyring not loaded", ErrInvalidToken)
	}
	var (
		data []byte
		ok   bool
	)
	for _, key := range set.keys {
		if data, ok = key.open(raw); ok {
			break
		}
	}
	if !ok {
		return Payload{}, fmt.Errorf("%w: not signed by a known key", ErrInvalidToken)
	}
	p, err := decodePayload(data)
	if err != nil {
		return Payload{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	p.IssuedAt = time.Unix(int64(ts), 0).UTC()
	return p, nil
}

func (k *Keyring) clock() time.Time {
	if k.now != nil {
		return k.now()
	}
	return time.Now()
}

func (k *Keyring) random() io.Reader {
	if k.rand != nil {
		return k.rand
	}
	return rand.Reader
}

// NewAuditID returns a new random audit ID: 16 random bytes in URL-safe base64
// without padding (22 characters), the format of Keystone's
// random_urlsafe_str.
func NewAuditID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}
