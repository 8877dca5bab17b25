import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from deeptrust.serve.auth import AuthError, JwtVerifier, KeyStore, Principal, is_local_connection
from deeptrust.settings import Settings


def test_keys_are_stored_hashed_and_verify(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    record, plaintext = store.create("uploader", role="moderator")
    assert plaintext.startswith(f"dt_{record.id}_")
    assert plaintext not in (tmp_path / "keys.json").read_text()
    assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0
    principal = store.verify(plaintext)
    assert principal == Principal(f"key:{record.id}", frozenset({"moderator"}), "api_key")
    assert principal.has("user") and principal.has("moderator") and not principal.has("admin")


def test_wrong_and_revoked_keys_are_refused(tmp_path):
    store = KeyStore(tmp_path / "keys.json")
    record, plaintext = store.create("a")
    with pytest.raises(AuthError, match="unknown"):
        store.verify(plaintext[:-1] + ("x" if plaintext[-1] != "x" else "y"))
    with pytest.raises(AuthError, match="unknown"):
        store.verify("dt_nope")
    store.revoke(record.id)
    with pytest.raises(AuthError, match="revoked"):
        store.verify(plaintext)
    assert not store.has_active()
    with pytest.raises(KeyError):
        store.revoke("missing")


def test_unknown_role_is_refused(tmp_path):
    with pytest.raises(ValueError, match="role"):
        KeyStore(tmp_path / "k.json").create("a", role="root")


def test_a_second_store_sees_new_keys(tmp_path):
    """The server's store notices keys created by the CLI while it runs."""
    server, cli = KeyStore(tmp_path / "k.json"), KeyStore(tmp_path / "k.json")
    assert not server.has_active()
    _, plaintext = cli.create("late")
    assert server.verify(plaintext).method == "api_key"
    assert json.loads((tmp_path / "k.json").read_text())["keys"][0]["name"] == "late"


SECRET = "s3cret-s3cret-s3cret-s3cret-32byte"  # HS256 secrets need at least 32 bytes


def hs_token(secret=SECRET, **claims):
    payload = {"sub": "alice", "exp": int(time.time()) + 60} | claims
    return jwt.encode(payload, secret, algorithm="HS256")


def test_hs256_tokens_carry_subject_and_roles():
    verifier = JwtVerifier(secret=SECRET)
    principal = verifier.verify(hs_token(roles=["moderator"]))
    assert principal.subject == "jwt:alice" and principal.roles == {"moderator"}
    assert verifier.verify(hs_token(scope="admin other")).roles == {"admin"}
    assert verifier.verify(hs_token()).roles == {"user"}


@pytest.mark.parametrize(
    ("token", "match"),
    [
        (hs_token(secret="wrong"), "Signature"),
        (hs_token(exp=int(time.time()) - 5), "expired"),
        ("not-a-jwt", "malformed"),
        (jwt.encode({"sub": "x"}, SECRET, algorithm="HS256"), "exp"),
    ],
    ids=["bad-signature", "expired", "malformed", "no-exp"],
)
def test_bad_tokens_are_refused(token, match):
    with pytest.raises(AuthError, match=match):
        JwtVerifier(secret=SECRET).verify(token)


def test_rs256_with_public_key_file_and_audience(tmp_path):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "pub.pem").write_bytes(pem)
    verifier = JwtVerifier(public_key=str(tmp_path / "pub.pem"), audience="deeptrust")
    good = jwt.encode({"sub": "svc", "exp": time.time() + 60, "aud": "deeptrust"}, private, algorithm="RS256")
    assert verifier.verify(good).subject == "jwt:svc"
    wrong_aud = jwt.encode(
        {"sub": "svc", "exp": time.time() + 60, "aud": "other"}, private, algorithm="RS256"
    )
    with pytest.raises(AuthError, match=r"(?i)audience"):
        verifier.verify(wrong_aud)
    with pytest.raises(AuthError, match="HS256 are not accepted"):  # no algorithm confusion
        verifier.verify(hs_token())


@pytest.mark.parametrize(
    "claims",
    [{"roles": 5}, {"roles": "admin"}, {"roles": ["admin", 5]}, {"scope": 5}, {"scope": ["admin"]}],
    ids=["roles-int", "roles-str", "roles-mixed", "scope-int", "scope-list"],
)
def test_role_claims_of_the_wrong_type_are_refused(claims):
    with pytest.raises(AuthError, match="must be a"):
        JwtVerifier(secret=SECRET).verify(hs_token(**claims))


@pytest.mark.parametrize("secret", ["x", "s" * 31, "é" * 15])  # bytes count, not characters (é is 2)
def test_short_hs256_secrets_are_refused(secret):
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(jwt_secret=secret)
    with pytest.raises(ValueError, match="at least 32"):
        JwtVerifier(secret=secret)
    assert JwtVerifier(secret="s" * 32).enabled and Settings(jwt_secret="é" * 16).jwt_secret


def scope(client, server, headers=()):
    return {"type": "http", "client": client, "server": server, "headers": list(headers)}


@pytest.mark.parametrize(
    ("client", "server", "headers", "local"),
    [
        (("127.0.0.1", 5000), ("127.0.0.1", 8000), (), True),
        (("::1", 5000), ("::1", 8000), (), True),
        (("::ffff:127.0.0.1", 5000), ("::ffff:127.0.0.1", 8000), (), True),
        (("192.0.2.7", 5000), ("192.0.2.1", 8000), (), False),  # uvicorn --host 0.0.0.0, a LAN caller
        (("127.0.0.1", 5000), ("192.0.2.1", 8000), (), False),  # reached through a public address
        (("127.0.0.1", 5000), ("127.0.0.1", 8000), ((b"x-forwarded-for", b"198.51.100.4"),), False),
        (("127.0.0.1", 5000), ("127.0.0.1", 8000), ((b"forwarded", b"for=198.51.100.4"),), False),
        (None, ("/run/deeptrust.sock", None), (), True),  # unix socket: the settings decide
        (("testclient", 50000), ("testserver", 80), (), True),  # in-process: the settings decide
    ],
    ids=[
        "v4",
        "v6",
        "v4-mapped",
        "lan",
        "public-socket",
        "x-forwarded-for",
        "forwarded",
        "uds",
        "in-process",
    ],
)
def test_local_connections_are_loopback_at_both_ends_without_a_proxy(client, server, headers, local):
    assert is_local_connection(scope(client, server, headers)) is local
