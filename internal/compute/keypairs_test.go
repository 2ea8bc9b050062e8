package compute

import (
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testPublicKey returns a fresh ed25519 OpenSSH public key line and its Nova
// fingerprint.
func testPublicKey(t testing.TB) (string, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(sp.Marshal())
	var parts []string
	for _, b := range sum {
		parts = append(parts, fmt.Sprintf("%02x", b))
	}
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(sp.Marshal()) + " test@host", strings.Join(parts, ":")
}

func TestKeypairLifecycle(t *testing.T) {
	tc := newTestCloud(t)
	pub, fp := testPublicKey(t)
	kpBody := func(kp map[string]any) map[string]any { return map[string]any{"keypair": kp} }

	// 2.1: 200 on create, no type, 202 on delete.
	r := tc.doAs(t, tc.demoToken, "2.1", "POST", "/v2.1/os-keypairs", kpBody(map[string]any{"name": "k1", "public_key": pub})).want(t, 200)
	k := r.obj("keypair")
	if k["fingerprint"] != fp || k["user_id"] != tc.demoUserID || k["public_key"] != pub || len(k) != 4 {
		t.Errorf("import %v", k)
	}
	tc.doAs(t, tc.demoToken, "2.1", "POST", "/v2.1/os-keypairs", kpBody(map[string]any{"name": "k1", "public_key": pub})).want(t, 409)
	tc.doAs(t, tc.demoToken, "2.1", "POST", "/v2.1/os-keypairs", kpBody(map[string]any{"name": "k2", "public_key": pub, "type": "ssh"})).want(t, 400)
	// 2.2: generated key, 201, type.
	r = tc.doAs(t, tc.demoToken, "2.2", "POST", "/v2.1/os-keypairs", kpBody(map[string]any{"name": "gen"})).want(t, 201)
	k = r.obj("keypair")
	priv, _ := k["private_key"].(string)
	if !strings.HasPrefix(priv, "-----BEGIN RSA PRIVATE KEY-----") || k["type"] != "ssh" ||
		!strings.HasPrefix(k["public_key"].(string), "ssh-rsa ") || !strings.HasSuffix(k["public_key"].(string), " Generated-by-Nova") {
		t.Errorf("generated %v", k)
	}
	signer, err := ssh.ParsePrivateKey([]byte(priv))
	if err != nil {
		t.Fatalf("private key: %v", err)
	}
	if got := string(ssh.MarshalAuthorizedKey(signer.PublicKey())); !strings.HasPrefix(k["public_key"].(string), strings.TrimSpace(got)) {
		t.Errorf("private and public keys differ")
	}
	// show
	r = tc.doAs(t, tc.demoToken, "2.2", "GET", "/v2.1/os-keypairs/gen", nil).want(t, 200)
	k = r.obj("keypair")
	for _, key := range []string{"name", "public_key", "fingerprint", "user_id", "created_at", "deleted", "deleted_at", "updated_at", "id", "type"} {
		if _, ok := k[key]; !ok {
			t.Errorf("show lacks %s", key)
		}
	}
	if _, ok := k["private_key"]; ok || len(k) != 10 || k["deleted"] != false {
		t.Errorf("show %v", k)
	}
	tc.doAs(t, tc.altToken, "2.2", "GET", "/v2.1/os-keypairs/gen", nil).want(t, 404)
	// 2.10: admin acts for another user; a member cannot.
	tc.do(t, "2.10", "GET", "/v2.1/os-keypairs/gen?user_id="+tc.demoUserID, nil).want(t, 200)
	tc.doAs(t, tc.altToken, "2.10", "GET", "/v2.1/os-keypairs/gen?user_id="+tc.demoUserID, nil).want(t, 403)
	tc.do(t, "2.9", "GET", "/v2.1/os-keypairs/gen?user_id="+tc.demoUserID, nil).want(t, 404)
	r = tc.do(t, "2.10", "POST", "/v2.1/os-keypairs", kpBody(map[string]any{"name": "foradmin", "public_key": pub, "user_id": tc.demoUserID})).want(t, 201)
	if r.obj("keypair")["user_id"] != tc.demoUserID {
		t.Errorf("2.10 create %v", r.body)
	}
	tc.doAs(t, tc.altToken, "2.10", "POST", "/v2.1/os-keypairs", kpBody(map[string]any{"name": "x", "public_key": pub, "user_id": tc.demoUserID})).want(t, 403)
	// list and paging (2.35).
	r = tc.doAs(t, tc.demoToken, "2.2", "GET", "/v2.1/os-keypairs", nil).want(t, 200)
	var names []string
	for _, it := range r.list("keypairs") {
		kp := it["keypair"].(map[string]any)
		names = append(names, kp["name"].(string))
		if len(kp) != 4 {
			t.Errorf("list item %v", kp)
		}
	}
	if strings.Join(names, ",") != "foradmin,gen,k1" {
		t.Errorf("list %v", names)
	}
	r = tc.doAs(t, tc.demoToken, "2.35", "GET", "/v2.1/os-keypairs?limit=1&marker=foradmin", nil).want(t, 200)
	if l := r.list("keypairs"); len(l) != 1 || l[0]["keypair"].(map[string]any)["name"] != "gen" {
		t.Errorf("page %v", r.body)
	}
	if _, ok := r.body["keypairs_links"]; !ok {
		t.Errorf("no links %v", r.body)
	}
	tc.doAs(t, tc.demoToken, "2.35", "GET", "/v2.1/os-keypairs?marker=nope", nil).want(t, 400)
	tc.doAs(t, tc.demoToken, "2.35", "GET", "/v2.1/os-keypairs?limit=-3", nil).want(t, 400)
	tc.doAs(t, tc.demoToken, "2.75", "GET", "/v2.1/os-keypairs?bogus=1", nil).want(t, 400)
	tc.doAs(t, tc.demoToken, "2.74", "GET", "/v2.1/os-keypairs?bogus=1", nil).want(t, 200)
	// delete
	tc.doAs(t, tc.demoToken, "2.1", "DELETE", "/v2.1/os-keypairs/k1", nil).want(t, 202)
	tc.doAs(t, tc.demoToken, "2.2", "DELETE", "/v2.1/os-keypairs/gen", nil).want(t, 204)
	tc.doAs(t, tc.demoToken, "2.2", "DELETE", "/v2.1/os-keypairs/gen", nil).want(t, 404)
}

func TestKeypairValidation(t *testing.T) {
	tc := newTestCloud(t)
	pub, _ := testPublicKey(t)
	_, cert, certFP, err := generateX509Keypair("someone")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		ver    string
		kp     map[string]any
		status int
	}{
		{"no name", "2.2", map[string]any{"public_key": pub}, 400},
		{"bad chars", "2.2", map[string]any{"name": "a/b", "public_key": pub}, 400},
		{"dot before 2.92", "2.91", map[string]any{"name": "a.b", "public_key": pub}, 400},
		{"dot at 2.92", "2.92", map[string]any{"name": "a.b@c", "public_key": pub}, 201},
		{"generate at 2.92", "2.92", map[string]any{"name": "gen"}, 400},
		{"leading space", "2.2", map[string]any{"name": " a", "public_key": pub}, 400},
		{"too long", "2.2", map[string]any{"name": strings.Repeat("a", 256), "public_key": pub}, 400},
		{"bad key", "2.2", map[string]any{"name": "bad", "public_key": "ssh-rsa notbase64"}, 400},
		{"bad type", "2.2", map[string]any{"name": "bad", "public_key": pub, "type": "pgp"}, 400},
		{"user_id before 2.10", "2.9", map[string]any{"name": "u", "public_key": pub, "user_id": "x"}, 400},
		{"extra", "2.2", map[string]any{"name": "e", "public_key": pub, "foo": 1}, 400},
		{"x509 import", "2.2", map[string]any{"name": "cert", "public_key": cert, "type": "x509"}, 201},
		{"x509 bad", "2.2", map[string]any{"name": "cert2", "public_key": pub, "type": "x509"}, 400},
		{"number name", "2.2", map[string]any{"name": 5, "public_key": pub}, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tc.doAs(t, tc.demoToken, c.ver, "POST", "/v2.1/os-keypairs", map[string]any{"keypair": c.kp})
			if r.code != c.status {
				t.Fatalf("status %d, want %d: %s", r.code, c.status, r.raw)
			}
			if c.name == "x509 import" && r.obj("keypair")["fingerprint"] != certFP {
				t.Errorf("x509 fingerprint %v, want %s", r.obj("keypair")["fingerprint"], certFP)
			}
		})
	}
	tc.doAs(t, tc.demoToken, "2.2", "POST", "/v2.1/os-keypairs", map[string]any{"other": 1}).want(t, 400)
	r := tc.doAs(t, tc.demoToken, "2.2", "POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "x509gen", "type": "x509"}}).want(t, 201)
	if !strings.Contains(r.obj("keypair")["public_key"].(string), "BEGIN CERTIFICATE") || r.obj("keypair")["private_key"] == "" {
		t.Errorf("x509 generate %v", r.body)
	}
}
