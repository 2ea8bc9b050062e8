package fernet

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fuzzKeys are fixed test keys, so that fuzz seeds stay valid tokens.
var fuzzKeys = []string{
	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
}

// FuzzValidate checks that Validate never panics and either accepts a token
// or returns ErrInvalidToken; an accepted token must issue again to a token
// with the same payload.
func FuzzValidate(f *testing.F) {
	k := keyringFromKeys(f, fuzzKeys...)
	for _, p := range gostackCases() {
		token, err := k.Issue(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(token)
		f.Add(token + "==")
		f.Add(token[:len(token)/2])
	}
	f.Add("")
	f.Add("gAAAAA")
	f.Add(strings.Repeat("A", 200))
	f.Fuzz(func(t *testing.T, token string) {
		p, err := k.Validate(token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			return
		}
		again, err := k.Issue(p)
		if err != nil {
			t.Fatalf("valid payload %+v does not issue: %v", p, err)
		}
		q, err := k.Validate(again)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, q); diff != "" {
			t.Fatalf("payload changed on reissue:\n%s", diff)
		}
	})
}

// FuzzDecodePayload feeds arbitrary bytes to the payload decoder, which
// Validate only reaches with authenticated data; a payload that decodes and
// encodes again must decode to the same values.
func FuzzDecodePayload(f *testing.F) {
	for _, p := range gostackCases() {
		b, err := encodePayload(&p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0xc6, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePayload(data)
		if err != nil {
			return
		}
		b, err := encodePayload(&p)
		if err != nil {
			return // Keystone-only forms, e.g. an empty audit ID list
		}
		q, err := decodePayload(b)
		if err != nil {
			t.Fatalf("re-encoded payload does not decode: %v", err)
		}
		if diff := cmp.Diff(p, q); diff != "" {
			t.Fatalf("payload changed on re-encoding:\n%s", diff)
		}
	})
}

func BenchmarkIssue(b *testing.B) {
	k := keyringFromKeys(b, fuzzKeys...)
	p := samplePayload()
	p.IssuedAt = time.Time{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Issue(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	k := keyringFromKeys(b, fuzzKeys...)
	token, err := k.Issue(samplePayload())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Validate(token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateSecondary validates a token of the oldest key, after every
// other key's MAC check failed.
func BenchmarkValidateSecondary(b *testing.B) {
	old := keyringFromKeys(b, fuzzKeys[1])
	token, err := old.Issue(samplePayload())
	if err != nil {
		b.Fatal(err)
	}
	k := keyringFromKeys(b, fuzzKeys...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Validate(token); err != nil {
			b.Fatal(err)
		}
	}
}
