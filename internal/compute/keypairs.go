package compute

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gostack/gostack/internal/api"
)

// Keypair rules (nova/policies/keypairs.py): admins, or the user owning the keypairs.
const (
	ruleKeypairIndex  = "os_compute_api:os-keypairs:index"
	ruleKeypairCreate = "os_compute_api:os-keypairs:create"
	ruleKeypairDelete = "os_compute_api:os-keypairs:delete"
	ruleKeypairShow   = "os_compute_api:os-keypairs:show"
	ruleKeypairOwner  = "(" + ruleAdmin + ") or user_id:%(user_id)s"
)

// keypairPolicies are Nova's keypair defaults.
var keypairPolicies = map[string]string{
	ruleKeypairIndex:  ruleKeypairOwner,
	ruleKeypairCreate: ruleKeypairOwner,
	ruleKeypairDelete: ruleKeypairOwner,
	ruleKeypairShow:   ruleKeypairOwner,
}

// Keypair types (Nova's keypair_obj.KEYPAIR_TYPE_*).
const (
	keypairTypeSSH  = "ssh"
	keypairTypeX509 = "x509"
)

// keypairNamePattern and keypairNamePattern292 are the characters Nova allows in
// keypair names before and from 2.92 (which adds '@' and '.').
var (
	keypairNamePattern    = regexp.MustCompile(`^[_\- a-zA-Z0-9]+$`)
	keypairNamePattern292 = regexp.MustCompile(`^[_\-@. a-zA-Z0-9]+$`)
)

// keypairCreate is a validated keypair create request.
type keypairCreate struct {
	name, typ, userID string
	publicKey         *string
}

// parseKeypairCreate validates a create body as Nova's create, create_v22, create_v210
// and create_v292 schemas do.
func parseKeypairCreate(body api.Object, ver api.Version) (*keypairCreate, error) {
	ko, err := subObject(body, "keypair")
	if err != nil {
		return nil, err
	}
	allowed := []string{"name", "public_key"}
	if ver.AtLeast(2, 2) {
		allowed = append(allowed, "type")
	}
	if ver.AtLeast(2, 10) {
		allowed = append(allowed, "user_id")
	}
	required := []string{"name"}
	if ver.AtLeast(2, 92) {
		required = append(required, "public_key")
	}
	if err := checkObject(ko, "keypair", required, allowed); err != nil {
		return nil, err
	}
	name, _, err := nameField(ko, "name", 255, false)
	if err != nil {
		return nil, err
	}
	pattern := keypairNamePattern
	if ver.AtLeast(2, 92) {
		pattern = keypairNamePattern292
	}
	if !pattern.MatchString(name) {
		return nil, invalidInput("name", name, fmt.Sprintf("'%s' does not match '%s'", name, strings.ReplaceAll(pattern.String(), "@.", `\@\.`)))
	}
	kc := &keypairCreate{name: strings.TrimSpace(name), typ: keypairTypeSSH}
	if v, ok := ko["type"]; ok {
		s, isStr := v.(string)
		if !isStr || (s != keypairTypeSSH && s != keypairTypeX509) {
			return nil, invalidInput("type", v, fmt.Sprintf("%s is not one of ['ssh', 'x509']", reprValue(v)))
		}
		kc.typ = s
	}
	if v, ok := ko["public_key"]; ok {
		s, isStr := v.(string)
		if !isStr {
			return nil, invalidInput("public_key", v, fmt.Sprintf("%s is not of type 'string'", reprValue(v)))
		}
		kc.publicKey = &s
	}
	if v, ok := ko["user_id"]; ok {
		s, isStr := v.(string)
		if !isStr {
			return nil, invalidInput("user_id", v, fmt.Sprintf("%s is not of type 'string'", reprValue(v)))
		}
		kc.userID = s
	}
	return kc, nil
}

// invalidKeypair is Nova's InvalidKeypair (400).
func invalidKeypair(reason string) error { return badRequest("Keypair data is invalid: %s", reason) }

// sshFingerprint is Nova's generate_fingerprint: the MD5 of the key blob (the second
// space-separated field), colon-separated hex, once the key parses as an OpenSSH
// public key.
func sshFingerprint(publicKey string) (string, error) {
	if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(publicKey)); err != nil {
		return "", invalidKeypair("failed to generate fingerprint")
	}
	fields := strings.Split(publicKey, " ")
	if len(fields) < 2 {
		return "", invalidKeypair("failed to generate fingerprint")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return "", invalidKeypair("failed to generate fingerprint")
	}
	sum := md5.Sum(blob)
	return colonHex(sum[:]), nil
}

// x509Fingerprint is Nova's generate_x509_fingerprint: the SHA-1 of the PEM
// certificate's DER, colon-separated hex.
func x509Fingerprint(pemCert string) (string, error) {
	block, _ := pem.Decode([]byte(pemCert))
	if block == nil {
		return "", invalidKeypair("failed to generate X509 fingerprint. Error message: Unable to load PEM file.")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return "", invalidKeypair("failed to generate X509 fingerprint. Error message: error parsing asn1 value")
	}
	sum := sha1.Sum(block.Bytes)
	return colonHex(sum[:]), nil
}

// colonHex renders bytes as "aa:bb:...".
func colonHex(b []byte) string {
	h := hex.EncodeToString(b)
	parts := make([]string, 0, len(b))
	for i := 0; i+1 < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// keypairFingerprint computes the fingerprint of an imported key of the given type.
func keypairFingerprint(typ, publicKey string) (string, error) {
	if typ == keypairTypeX509 {
		return x509Fingerprint(publicKey)
	}
	return sshFingerprint(publicKey)
}

// generateSSHKeypair makes an RSA 2048 key as Nova does (paramiko): the private key in
// PEM ("BEGIN RSA PRIVATE KEY") and the public key as "ssh-rsa <base64>
// Generated-by-Nova".
func generateSSHKeypair() (private, public, fingerprint string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", "", fmt.Errorf("generate rsa key: %w", err)
	}
	private = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	pub, err := ssh.NewPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", "", fmt.Errorf("encode ssh public key: %w", err)
	}
	public = pub.Type() + " " + base64.StdEncoding.EncodeToString(pub.Marshal()) + " Generated-by-Nova"
	fingerprint, err = sshFingerprint(public)
	return private, public, fingerprint, err
}

// generateX509Keypair makes what Nova's generate_winrm_x509_cert makes: a ten-year
// self-signed client certificate for CN=<user> with the UPN <user>@localhost, and the
// private key base64-encoded (Nova wraps it in PKCS#12; gostack gives the PKCS#8 DER,
// which WinRM tooling also reads).
func generateX509Keypair(userID string) (private, certificate, fingerprint string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", "", fmt.Errorf("generate rsa key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return "", "", "", fmt.Errorf("serial: %w", err)
	}
	start := now()
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: userID},
		NotBefore:      start,
		NotAfter:       start.Add(3650 * 24 * time.Hour),
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		EmailAddresses: []string{userID + "@localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", "", fmt.Errorf("create certificate: %w", err)
	}
	certificate = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", "", fmt.Errorf("encode private key: %w", err)
	}
	fingerprint, err = x509Fingerprint(certificate)
	return base64.StdEncoding.EncodeToString(pkcs8), certificate, fingerprint, err
}
