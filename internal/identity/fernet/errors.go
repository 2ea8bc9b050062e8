package fernet

import "errors"

// ErrInvalidToken is returned by Keyring.Validate for every token that cannot
// be accepted: malformed text, a bad signature or padding, a key that is not in
// the keyring, or a payload this package does not understand. The wrapped
// detail never contains key material or the token itself.
var ErrInvalidToken = errors.New("fernet: invalid token")

// ErrInvalidPayload is returned by Keyring.Issue when the payload cannot be
// encoded the way Keystone would encode it, for example a trust ID that is not
// a UUID or an unknown authentication method.
var ErrInvalidPayload = errors.New("fernet: invalid token payload")

// ErrNoKeys is returned when a key repository holds no usable key.
var ErrNoKeys = errors.New("fernet: key repository has no keys")
