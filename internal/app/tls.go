package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// tlsConfig returns the listener's TLS configuration (nil for plain HTTP) and the CA file
// clients should trust ("" when the system roots apply).
func (c *Config) tlsConfig() (*tls.Config, string, error) {
	switch {
	case c.TLSCert != "" || c.TLSKey != "":
		if c.TLSCert == "" || c.TLSKey == "" {
			return nil, "", fmt.Errorf("--tls-cert and --tls-key must be given together")
		}
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, "", fmt.Errorf("load TLS certificate: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, "", nil
	case c.TLS == "" || c.TLS == "off":
		return nil, "", nil
	case c.TLS == "auto":
		dir := filepath.Join(c.DataDir, "tls")
		if err := ensureLocalCA(dir, c.Listen, c.PublicURL); err != nil {
			return nil, "", err
		}
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
		if err != nil {
			return nil, "", fmt.Errorf("load TLS certificate: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, filepath.Join(dir, "ca.crt"), nil
	default:
		return nil, "", fmt.Errorf("--tls must be off or auto, not %q", c.TLS)
	}
}

// ensureLocalCA creates, once, a local CA and a server certificate signed by it for the
// loopback addresses, the host name and the listen/public hosts.
func ensureLocalCA(dir, listen, publicURL string) error {
	if _, err := os.Stat(filepath.Join(dir, "server.crt")); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial := func() *big.Int {
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		return n
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "gostack local CA", Organization: []string{"gostack"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "gostack", Organization: []string{"gostack"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	addHost := func(h string) {
		if h == "" || h == "0.0.0.0" || h == "::" {
			return
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if h, _, err := net.SplitHostPort(listen); err == nil {
		addHost(h)
	}
	if publicURL != "" {
		if u, err := urlHost(publicURL); err == nil {
			addHost(u)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	writePEM := func(name, typ string, b []byte, mode os.FileMode) error {
		return writeFileAtomic(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), mode)
	}
	caKeyDER, _ := x509.MarshalECPrivateKey(caKey)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for _, f := range []struct {
		name, typ string
		b         []byte
		mode      os.FileMode
	}{
		{"ca.crt", "CERTIFICATE", caDER, 0o644},
		{"ca.key", "EC PRIVATE KEY", caKeyDER, 0o600},
		{"server.key", "EC PRIVATE KEY", keyDER, 0o600},
		{"server.crt", "CERTIFICATE", der, 0o644},
	} {
		if err := writePEM(f.name, f.typ, f.b, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// urlHost returns the host part of a URL.
func urlHost(raw string) (string, error) {
	u, err := parseURL(raw)
	if err != nil {
		return "", err
	}
	return u.Hostname(), nil
}
