#!/usr/bin/python3
"""Cross-check gostack's Fernet tokens against Keystone's own token code.

This is a manual helper; the Go test suite never runs it. It loads the real
keystone/token/token_formatters.py (and the few Keystone functions it relies
on: the auth method bitmask from keystone/auth/plugins/core.py, isotime from
keystone/common/utils.py and the default [auth] methods from
keystone/conf/constants.py) from a Keystone source tree, with only
configuration, logging and the key loader stubbed, and uses python3-msgpack
and python3-cryptography as Keystone does.

    # tokens made by Keystone's code, validated by the Go tests
    python3 keystone_crosscheck.py KEYSTONE_SRC generate > keystone_tokens.json

    # tokens made by gostack (go test -run TestGostackGolden -update),
    # validated here by Keystone's code
    python3 keystone_crosscheck.py KEYSTONE_SRC verify gostack_tokens.json

KEYSTONE_SRC is a checkout of https://opendev.org/openstack/keystone (the
directory that contains the keystone package).
"""

import ast
import base64
import datetime
import importlib.util
import json
import logging
import os
import subprocess
import sys
import types

from cryptography import fernet
import msgpack

# Test keys only: primary (2), secondary (1), staged (0), the order
# Keystone's load_keys returns them in.
KEYS = [
    base64.urlsafe_b64encode(bytes(range(0, 32))).decode(),
    base64.urlsafe_b64encode(bytes(range(32, 64))).decode(),
    base64.urlsafe_b64encode(bytes(range(64, 96))).decode(),
]
NOW = 1784380496  # 2026-07-18T13:14:56Z, the Fernet timestamp of every token
IV = bytes(range(0xA0, 0xB0))


def ast_pick(path, names):
    """Return the top-level functions and assignments of path named names."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    picked = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            picked.append(node)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in names for t in node.targets
        ):
            picked.append(node)
    missing = set(names) - {
        getattr(n, 'name', None) or n.targets[0].id for n in picked
    }
    if missing:
        sys.exit(f'{path}: cannot find {sorted(missing)}')
    return compile(ast.Module(body=picked, type_ignores=[]), path, 'exec')


def module(name, **attrs):
    m = types.ModuleType(name)
    m.__path__ = []
    m.__dict__.update(attrs)
    sys.modules[name] = m
    parent, _, child = name.rpartition('.')
    if parent:
        setattr(sys.modules[parent], child, m)
    return m


def load_keystone(src):
    """Import keystone.token.token_formatters from src with stubs around it."""
    ks = os.path.join(src, 'keystone')

    ns = {}
    exec(ast_pick(os.path.join(ks, 'conf/constants.py'),
                  ['_DEFAULT_AUTH_METHODS']), ns)
    conf = types.SimpleNamespace(
        auth=types.SimpleNamespace(methods=ns['_DEFAULT_AUTH_METHODS']),
        fernet_tokens=types.SimpleNamespace(
            key_repository='/nonexistent', max_active_keys=3),
        identity=types.SimpleNamespace(default_domain_id='default'),
        max_token_size=255,
    )

    def normalize_time(t):
        off = t.utcoffset()
        return t if off is None else t.replace(tzinfo=None) - off

    timeutils = types.SimpleNamespace(
        parse_isotime=datetime.datetime.fromisoformat,
        normalize_time=normalize_time,
        utcnow=lambda: datetime.datetime.now(datetime.timezone.utc)
        .replace(tzinfo=None),
    )
    module('oslo_log')
    module('oslo_log.log', getLogger=logging.getLogger)
    module('oslo_utils', timeutils=timeutils)
    sys.modules['oslo_utils.timeutils'] = timeutils

    module('keystone')
    module('keystone.conf', CONF=conf)
    module('keystone.i18n', _=lambda s: s)
    module('keystone.exception',
           ValidationError=type('ValidationError', (Exception,), {}),
           KeysNotFound=type('KeysNotFound', (Exception,), {}))
    module('keystone.auth')
    plugins = module('keystone.auth.plugins', CONF=conf)
    exec(ast_pick(os.path.join(ks, 'auth/plugins/core.py'), [
        'construct_method_map_from_config',
        'convert_method_list_to_integer',
        'convert_integer_to_method_list',
    ]), plugins.__dict__)
    module('keystone.common')
    utils = module('keystone.common.utils', timeutils=timeutils)
    exec(ast_pick(os.path.join(ks, 'common/utils.py'), [
        '_ISO8601_TIME_FORMAT_SUBSECOND', '_ISO8601_TIME_FORMAT', 'isotime',
    ]), utils.__dict__)

    class FernetUtils:
        def __init__(self, *args):
            pass

        def load_keys(self):
            return list(KEYS)

    module('keystone.common.fernet_utils', FernetUtils=FernetUtils)
    module('keystone.token')

    provider = {'base64': base64, 'uuid': __import__('uuid')}
    exec(ast_pick(os.path.join(ks, 'token/provider.py'),
                  ['random_urlsafe_str']), provider)

    path = os.path.join(ks, 'token/token_formatters.py')
    spec = importlib.util.spec_from_file_location(
        'keystone.token.token_formatters', path)
    tf = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tf
    spec.loader.exec_module(tf)
    return tf, provider['random_urlsafe_str']


FIELDS = ['user_id', 'methods', 'audit_ids', 'system', 'domain_id',
          'project_id', 'trust_id', 'federated_group_ids',
          'identity_provider_id', 'protocol_id', 'access_token_id',
          'app_cred_id', 'thumbprint', 'issued_at', 'expires_at']


COMPARED = ['user_id', 'methods', 'audit_ids', 'system', 'domain_id',
            'project_id', 'trust_id', 'access_token_id', 'app_cred_id',
            'issued_at', 'expires_at']


def formatter(tf, legacy=False):
    """A real TokenFormatter whose encryption uses a fixed time and IV."""

    class Crypto:
        def __init__(self, real):
            self.real = real

        def encrypt(self, msg):
            if legacy:  # what msgpack < 1.0 wrote: no bin type
                msg = msgpack.packb(msgpack.unpackb(msg), use_bin_type=False)
            return fernet.Fernet(KEYS[0])._encrypt_from_parts(msg, NOW, IV)

        def decrypt(self, token):
            return self.real.decrypt(token)

    class Fixed(tf.TokenFormatter):
        @property
        def crypto(self):
            return Crypto(super().crypto)

    return Fixed()


def keystone_commit(src):
    try:
        return subprocess.run(['git', '-C', src, 'rev-parse', 'HEAD'],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:
        return 'unknown'


def generate(src):
    tf, _ = load_keystone(src)
    u = ['%032x' % (0x1111 * (i + 1)) for i in range(8)]  # fixed UUID hexes
    audit = ['AAECAwQFBgcICQoLDA0ODw', 'EBESExQVFhcYGRobHB0eHw']
    exp = '2026-07-18T14:14:56.123456Z'
    cases = [
        ('unscoped', tf.UnscopedPayload,
         dict(user_id=u[0], methods=['password'], audit_ids=audit[:1])),
        ('unscoped_non_uuid_user', tf.UnscopedPayload,
         dict(user_id='admin', methods=['password', 'token'],
              audit_ids=audit)),
        ('unscoped_16_char_user', tf.UnscopedPayload,
         dict(user_id='0123456789abcdef', methods=['token'],
              audit_ids=audit[:1])),
        ('domain', tf.DomainScopedPayload,
         dict(user_id=u[0], methods=['password'], domain_id=u[1],
              audit_ids=audit[:1])),
        ('domain_default', tf.DomainScopedPayload,
         dict(user_id='admin', methods=['password'], domain_id='default',
              audit_ids=audit)),
        ('project', tf.ProjectScopedPayload,
         dict(user_id=u[0], methods=['password'], project_id=u[2],
              audit_ids=audit[:1])),
        ('project_non_uuid', tf.ProjectScopedPayload,
         dict(user_id='ldap-user-' + 'x' * 40, methods=['token', 'password'],
              project_id='demo', audit_ids=audit)),
        ('project_all_methods', tf.ProjectScopedPayload,
         dict(user_id=u[0], methods=['external', 'password', 'token',
                                     'oauth1', 'mapped',
                                     'application_credential'],
              project_id=u[2], audit_ids=audit[:1])),
        ('trust', tf.TrustScopedPayload,
         dict(user_id=u[0], methods=['password'], project_id=u[2],
              trust_id=u[3], audit_ids=audit)),
        ('trust_non_uuid', tf.TrustScopedPayload,
         dict(user_id='trustee', methods=['token'], project_id='demo',
              trust_id=u[3], audit_ids=audit[:1])),
        ('system', tf.SystemScopedPayload,
         dict(user_id=u[0], methods=['password'], system='all',
              audit_ids=audit[:1])),
        ('app_cred', tf.ApplicationCredentialScopedPayload,
         dict(user_id=u[0], methods=['application_credential'],
              project_id=u[2], app_cred_id=u[4], audit_ids=audit[:1])),
        ('app_cred_non_uuid', tf.ApplicationCredentialScopedPayload,
         dict(user_id='0123456789abcdef', methods=['application_credential'],
              project_id='0123456789abcdef', app_cred_id='0123456789abcdef',
              audit_ids=audit[:1])),
        ('expires_whole_second', tf.ProjectScopedPayload,
         dict(user_id=u[0], methods=['password'], project_id=u[2],
              audit_ids=audit[:1], expires_at='2026-07-18T14:14:56.000000Z')),
        ('expires_far', tf.UnscopedPayload,
         dict(user_id=u[0], methods=['password'], audit_ids=audit[:1],
              expires_at='2999-12-31T23:59:59.999999Z')),
        # Keystone-only forms: gostack validates them but issues differently
        # (upper-case UUIDs are kept as text) or not at all.
        ('decode_upper_case_uuid', tf.ProjectScopedPayload,
         dict(user_id=u[0].upper(), methods=['password'],
              project_id=u[2].upper(), audit_ids=audit[:1])),
        # msgpack < 1.0 packed bytes as str; Keystone reads such tokens
        # again with raw=True when a str is not UTF-8, which random UUID
        # bytes almost never are, and fails when they happen to be.
        ('decode_legacy_msgpack', tf.ProjectScopedPayload,
         dict(user_id='ff' * 16, methods=['password'], project_id='demo',
              audit_ids=audit)),
        ('reject_legacy_msgpack_utf8_uuid', tf.ProjectScopedPayload,
         dict(user_id=u[0], methods=['password'], project_id='demo',
              audit_ids=audit)),
        ('reject_federated_unscoped', tf.FederatedUnscopedPayload,
         dict(user_id=u[0], methods=['mapped'], audit_ids=audit[:1],
              federated_group_ids=[{'id': u[5]}],
              identity_provider_id='idp', protocol_id='saml2')),
        ('oauth1', tf.OauthScopedPayload,
         dict(user_id=u[0], methods=['oauth1'], project_id=u[2],
              access_token_id=u[6], audit_ids=audit[:1])),
        ('oauth1_non_uuid', tf.OauthScopedPayload,
         dict(user_id='admin', methods=['oauth1'], project_id='demo',
              access_token_id='0123456789abcdef', audit_ids=audit)),
    ]
    out = {
        'comment': 'Generated by keystone_crosscheck.py from Keystone\'s '
                   'token_formatters.py; test keys only.',
        'keystone_commit': keystone_commit(src),
        'keys': KEYS,
        'now': NOW,
        'iv': IV.hex(),
        'cases': [],
    }
    for name, cls, kw in cases:
        kw.setdefault('expires_at', exp)
        f = formatter(tf, legacy='legacy' in name)
        token = f.create_token(payload_class=cls, **kw)
        plain = fernet.MultiFernet([fernet.Fernet(k) for k in KEYS]).decrypt(
            tf.TokenFormatter.restore_padding(token).encode())
        case = {
            'name': name,
            'version': cls.version,
            'input': kw,
            'token': token,
            'msgpack': plain.hex(),
        }
        try:
            got = dict(zip(FIELDS, f.validate_token(token)))
        except Exception as e:  # noqa: BLE001 - recorded for the Go test
            case['keystone_error'] = f'{type(e).__name__}: {e}'
        else:
            exact = datetime.datetime.fromtimestamp(
                tf.BasePayload._convert_time_string_to_float(kw['expires_at']),
                datetime.timezone.utc)
            case['validated'] = {
                k: v for k, v in got.items()
                if k not in ('federated_group_ids', 'identity_provider_id',
                             'protocol_id', 'thumbprint')
            }
            case['expires_at_exact'] = exact.strftime(
                '%Y-%m-%dT%H:%M:%S.%fZ')
        out['cases'].append(case)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write('\n')


def verify(src, path):
    global KEYS
    tf, _ = load_keystone(src)
    with open(path) as f:
        data = json.load(f)
    KEYS = data['keys']
    f = tf.TokenFormatter()
    failed = 0
    for case in data['cases']:
        try:
            got = dict(zip(FIELDS, f.validate_token(case['token'])))
        except Exception as e:  # noqa: BLE001 - report and go on
            print(f'FAIL {case["name"]}: {type(e).__name__}: {e}')
            failed += 1
            continue
        # Fields gostack leaves out of "expect" must be None in Keystone.
        diffs = [
            f'{k}: keystone {got[k]!r}, gostack {case["expect"].get(k)!r}'
            for k in COMPARED if got[k] != case['expect'].get(k)
        ]
        if diffs:
            failed += 1
            print(f'FAIL {case["name"]}: ' + '; '.join(diffs))
        else:
            print(f'ok   {case["name"]}')
    print(f'{len(data["cases"]) - failed}/{len(data["cases"])} gostack '
          'tokens validated by Keystone with the expected values')
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    if len(sys.argv) < 3 or sys.argv[2] not in ('generate', 'verify'):
        sys.exit(__doc__)
    if sys.argv[2] == 'generate':
        generate(sys.argv[1])
    else:
        verify(sys.argv[1], sys.argv[3])
