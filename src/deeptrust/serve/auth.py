"""Who is calling: API keys (stored hashed) and JWT bearer tokens (HS256 secret or RS256 public key).

API keys look like ``dt_<id>_<secret>``; only the SHA-256 of the whole key is stored (keys are 192-bit
random, so a slow hash adds nothing), and the plaintext is shown once, at creation.
Roles: ``user`` (predict, explain, feedback), ``moderator`` (+ review queue), ``admin`` (+ reload).
Without credentials a caller is anonymous: refused where auth is required, else a ``user`` (every role only
with ``DEEPTRUST_LOCAL_ADMIN``), and only over a connection that is loopback at both ends.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROLES = ("user", "moderator", "admin")
KEY_PREFIX = "dt_"


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    method: str  # "api_key" | "jwt" | "anonymous"

    def has(self, role: str) -> bool:
        """Roles are ordered: an admin may do what a moderator may, a moderator what a user may."""
        return any(ROLES.index(r) >= ROLES.index(role) for r in self.roles if r in ROLES)


ANONYMOUS = Principal("anonymous", frozenset({"user"}), "anonymous")  # loopback caller without credentials
LOCAL_ADMIN = Principal("anonymous", frozenset(ROLES), "anonymous")  # the same with DEEPTRUST_LOCAL_ADMIN
# Set by reverse proxies; a request carrying one came from elsewhere, whatever socket it arrived on.
FORWARDING_HEADERS = frozenset({b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-real-ip"})
MIN_HS256_SECRET_BYTES = 32


def is_local_connection(scope: Mapping[str, Any]) -> bool:
    """Whether the peer and the socket it reached are loopback addresses, with no proxy in between.

    This is where the server really listens, whatever ``Settings.host`` says (``uvicorn --host 0.0.0.0``
    on an app built for 127.0.0.1). A peer that is not an IP address (a unix socket, an in-process test
    client) tells nothing either way: the settings decide for it, as they do for everyone at start-up.
    """
    for address in (scope.get("client"), scope.get("server")):
        ip = _ip(address[0]) if address else None
        if ip is not None and not ip.is_loopback:
            return False
    return not any(name in FORWARDING_HEADERS for name, _ in scope.get("headers", ()))


def _ip(host: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(str(host))
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
    return mapped or ip


class AuthError(Exception):
    def __init__(self, detail: str, *, status: int = 401):
        super().__init__(detail)
        self.detail = detail
        self.status = status


@dataclass
class ApiKey:
    id: str
    name: str
    role: str
    hash: str
    created_at: str
    revoked_at: str | None = None
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class KeyStore:
    """API keys in a JSON file (written atomically, readable only by its owner)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, ApiKey]] | None = None

    def _load(self) -> dict[str, ApiKey]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if self._cache is None or self._cache[0] != mtime:
            data = json.loads(self.path.read_text())
            self._cache = (mtime, {k["id"]: ApiKey(**k) for k in data.get("keys", [])})
        return self._cache[1]

    def _save(self, keys: dict[str, ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"keys": [asdict(k) for k in keys.values()]}, f, indent=2)
        os.replace(tmp, self.path)
        self._cache = None

    def create(self, name: str, *, role: str = "user") -> tuple[ApiKey, str]:
        """A new key; returns the record and the plaintext key (shown once, never stored)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        key_id = secrets.token_hex(4)
        plaintext = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        record = ApiKey(
            key_id, name, role, _digest(plaintext), datetime.now(UTC).isoformat(timespec="seconds")
        )
        with self._lock:
            keys = dict(self._load())
            keys[key_id] = record
            self._save(keys)
        return record, plaintext

    def list(self) -> list[ApiKey]:
        return list(self._load().values())

    def revoke(self, key_id: str) -> ApiKey:
        with self._lock:
            keys = dict(self._load())
            if key_id not in keys:
                raise KeyError(f"no API key with id {key_id!r}")
            keys[key_id].revoked_at = datetime.now(UTC).isoformat(timespec="seconds")
            self._save(keys)
            return keys[key_id]

    def has_active(self) -> bool:
        return any(k.active for k in self._load().values())

    def verify(self, plaintext: str) -> Principal:
        parts = plaintext.split("_")
        record = self._load().get(parts[1]) if len(parts) >= 3 else None
        if record is None or not hmac.compare_digest(record.hash, _digest(plaintext)):
            raise AuthError("unknown API key")
        if not record.active:
            raise AuthError(f"API key {record.id} was revoked at {record.revoked_at}")
        return Principal(f"key:{record.id}", frozenset({record.role}), "api_key")


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


class JwtVerifier:
    """Bearer tokens signed with HS256 (shared secret) or RS256 (public key).

    Roles come from the ``roles`` claim (a list) or ``scope`` (space-separated); ``exp``, ``sub`` required.
    """

    def __init__(self, *, secret: str = "", public_key: str = "", audience: str = "", issuer: str = ""):
        if public_key and not public_key.lstrip().startswith("-----BEGIN"):
            public_key = Path(public_key).read_text()
        self.keys: list[tuple[str, str]] = []
        if secret and len(secret.encode()) < MIN_HS256_SECRET_BYTES:
            raise ValueError(
                f"the HS256 secret is {len(secret.encode())} bytes; it needs at least "
                f"{MIN_HS256_SECRET_BYTES} (DEEPTRUST_JWT_SECRET)"
            )
        if secret:
            self.keys.append(("HS256", secret))
        if public_key:
            self.keys.append(("RS256", public_key))
        self.audience = audience or None
        self.issuer = issuer or None

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def verify(self, token: str) -> Principal:
        import jwt

        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"malformed bearer token: {exc}") from exc
        key = next((k for a, k in self.keys if a == alg), None)
        if key is None:
            raise AuthError(f"tokens signed with {alg} are not accepted here")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[str(alg)],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid bearer token: {exc}") from exc
        roles = frozenset(r for r in _claimed_roles(claims) if r in ROLES) or frozenset({"user"})
        return Principal(f"jwt:{claims['sub']}", roles, "jwt")


def _claimed_roles(claims: dict[str, Any]) -> list[str]:
    """``roles`` (a list of strings), else ``scope`` (a space-separated string); anything else is refused."""
    roles, scope = claims.get("roles"), claims.get("scope", "")
    if roles:
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise AuthError(
                f"the token's 'roles' claim must be a list of strings, got {type(roles).__name__}"
            )
        return roles
    if not isinstance(scope, str):
        raise AuthError(
            f"the token's 'scope' claim must be a space-separated string, got {type(scope).__name__}"
        )
    return scope.split()
