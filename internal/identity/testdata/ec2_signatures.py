#!/usr/bin/env python3
"""Regenerates ec2_signatures.json, the golden signatures of ec2tokens_test.go.

Usage: python3 ec2_signatures.py /path/to/python-keystoneclient/keystoneclient/contrib/ec2/utils.py > ec2_signatures.json

EC2 signatures come from python-keystoneclient's Ec2Signer, loaded on its own; S3
signatures from copies of keystone/api/s3tokens.py's _calculate_signature_v1/_v4.
"""
import importlib.util, sys, types, json, copy
# Load python-keystoneclient master's contrib/ec2/utils.py without the rest of the client.
i18n = types.ModuleType("keystoneclient.i18n"); i18n._ = lambda s: s
sys.modules["keystoneclient"] = types.ModuleType("keystoneclient"); sys.modules["keystoneclient.i18n"] = i18n
spec = importlib.util.spec_from_file_location("ec2utils", sys.argv[1])
utils = importlib.util.module_from_spec(spec); spec.loader.exec_module(utils)
secret = "s3cr3t-key"
cases = []
def add(name, creds):
    c = copy.deepcopy(creds)
    sig = utils.Ec2Signer(secret).generate(c)
    cases.append({"name": name, "creds": creds, "signature": sig})
add("v0", {"params": {"SignatureVersion": "0", "Action": "DescribeInstances", "Timestamp": "2026-01-01T00:00:00Z"}})
add("v1", {"params": {"SignatureVersion": "1", "Action": "DescribeInstances", "b": "x y", "A": "1", "Version": "2010-08-31"}})
add("v2", {"host": "ec2.example.com:8773", "verb": "GET", "path": "/services/Cloud",
           "params": {"SignatureVersion": "2", "SignatureMethod": "HmacSHA1", "AWSAccessKeyId": "AK", "Action": "DescribeInstances", "Timestamp": "2026-01-01T00:00:00Z", "Filter.1": "a b/c~d*e", "ünï": "çødé"}})
add("v2-nonstring", {"host": "h", "verb": "POST", "path": "/", "params": {"SignatureVersion": "2", "n": 5, "b": True, "z": None}})
add("v4-header", {"host": "s3.example.com", "verb": "GET", "path": "/bucket/key",
    "params": {"list-type": "2", "prefix": "a b"},
    "headers": {"Host": "s3.example.com", "X-Amz-Date": "20260101T000000Z", "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
       "Authorization": "AWS4-HMAC-SHA256 Credential=AK/20260101/RegionOne/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=x"},
    "body_hash": "UNSIGNED-PAYLOAD"})
add("v4-post", {"host": "ec2.example.com", "verb": "post", "path": "/",
    "params": {"Action": "DescribeRegions"},
    "headers": {"host": " ec2.example.com ", "X-Amz-Date": "20260101T120000Z",
       "Authorization": "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/ec2/aws4_request,SignedHeaders=host;x-amz-date,Signature=x"},
    "body_hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})
add("v4-query", {"host": "s3.example.com", "verb": "GET", "path": "/bucket",
    "params": {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "AK/20260101/r/s3/aws4_request", "X-Amz-Date": "20260101T000000Z", "X-Amz-SignedHeaders": "host", "X-Amz-Expires": "300"},
    "headers": {"Host": "s3.example.com"},
    "body_hash": "UNSIGNED-PAYLOAD"})
add("v4-boto-port", {"host": "s3.example.com:8080", "verb": "GET", "path": "/",
    "params": {},
    "headers": {"Host": "s3.example.com:8080", "User-Agent": "Boto/2.9.1 Python", "X-Amz-Date": "20260101T000000Z",
       "Authorization": "AWS4-HMAC-SHA256 Credential=AK/20260101/r/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=x"},
    "body_hash": "UNSIGNED-PAYLOAD"})

import base64, hashlib, hmac
# keystone/api/s3tokens.py _calculate_signature_v1 / _v4, copied.
def v1(sts, secret):
    return base64.encodebytes(hmac.new(secret.encode(), sts, hashlib.sha1).digest()).decode().strip()
def v4(sts, secret):
    parts = sts.split(b'\n'); scope = parts[2].split(b'/')
    def _sign(k, m): return hmac.new(k, m, hashlib.sha256).digest()
    s = _sign(('AWS4' + secret).encode(), scope[0]); s = _sign(s, scope[1]); s = _sign(s, scope[2]); s = _sign(s, b'aws4_request')
    return hmac.new(s, sts, hashlib.sha256).hexdigest()

out = []
sts1 = b"GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg"
out.append({"name": "s3-v1", "token": base64.urlsafe_b64encode(sts1).decode(), "signature": v1(sts1, secret)})
sts4 = b"AWS4-HMAC-SHA256\n20260101T000000Z\n20260101/RegionOne/s3/aws4_request\n" + hashlib.sha256(b"canonical").hexdigest().encode()
out.append({"name": "s3-v4", "token": base64.b64encode(sts4).decode(), "signature": v4(sts4, secret)})

doc = {"comment": "Signatures computed with python-keystoneclient master's keystoneclient/contrib/ec2/utils.py Ec2Signer (ec2) and keystone master's keystone/api/s3tokens.py _calculate_signature_v1/_v4 (s3), secret 's3cr3t-key'. Regenerate with ec2_signatures.py.",
       "secret": secret, "ec2": cases, "s3": out}
print(json.dumps(doc, indent=1, ensure_ascii=False))
