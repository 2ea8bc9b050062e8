// Package fernet issues and validates Keystone-compatible Fernet tokens and
// manages the Fernet key repository they are signed with.
//
// The token format follows keystone/token/token_formatters.py: a versioned
// payload tuple is serialised with MessagePack, sealed with Fernet
// (AES-128-CBC and HMAC-SHA256, see https://github.com/fernet/spec) and the
// URL-safe base64 text has its '=' padding stripped. Payload versions 0
// (unscoped), 1 (domain), 2 (project), 3 (trust), 7 (OAuth 1.0a), 8 (system)
// and 9 (application credential) are issued and validated with Keystone's field
// layouts and conversions, so a token issued here can be validated by
// Keystone with the same keys and the other way round.
//
// The key repository is a directory laid out like the one managed by
// keystone-manage fernet_setup and fernet_rotate: files named 0, 1, 2, ...
// each hold one URL-safe base64 Fernet key; 0 is the staged key, the highest
// number is the primary key used to issue tokens, and every key in between is
// a secondary key that still validates tokens. Setup and Rotate change the
// repository; Load reads it into a Keyring.
package fernet
