"""Auth tokens for `--auth token`: a player name and an expiry, signed with HMAC-SHA256 by
a secret the server and the token maker share. `python -m server.token` makes them; the
server checks HELLO's token with `verify` (bad or expired: ERROR AUTH_FAILED).

A token reads `v1.<payload>.<signature>`, both parts base64url without padding; the payload
is JSON `{"name": ..., "exp": unix seconds}`. It is a bearer token: whoever holds it may
play as that name until it expires, so hand it over a channel you trust.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping

from server.secret_file import SecretError, find_secret

__all__ = ["SECRET_ENV", "AuthError", "load_secret", "make_token", "verify"]

SECRET_ENV = "LOOM_SECRET"
"""Environment variable holding the HMAC key when no --secret-file is named."""
SECRET_FILE_NAME = "secret"
"""The key generated into --data-dir when neither a file nor the environment has one."""
MIN_SECRET_BYTES = 16
_VERSION = "v1"


class AuthError(Exception):
    """A token the server refuses, or a secret it cannot use; the message says why."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, f"{_VERSION}.{payload}".encode("ascii"),
                         hashlib.sha256).digest())


def make_token(secret: bytes, name: str, expires: float) -> str:
    """A token for `name` valid until `expires` (unix seconds)."""
    body = json.dumps({"name": name, "exp": int(expires)}, separators=(",", ":"))
    payload = _b64(body.encode("utf-8"))
    return f"{_VERSION}.{payload}.{_sign(secret, payload)}"


def verify(secret: bytes, token: str, now: float) -> str:
    """The name `token` was made for; AuthError if it is malformed, not signed with
    `secret`, or expired at `now` (unix seconds)."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        raise AuthError("malformed token")
    _, payload, signature = parts
    try:
        good = hmac.compare_digest(_sign(secret, payload), signature)
    except (TypeError, UnicodeEncodeError):  # non-ASCII: compare_digest refuses it
        good = False
    if not good:
        raise AuthError("token signature does not match")
    try:
        claims = json.loads(_unb64(payload))
        name, expires = claims["name"], claims["exp"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise AuthError("malformed token") from None
    if not isinstance(name, str) or type(expires) is not int:
        raise AuthError("malformed token")
    if now >= expires:
        raise AuthError(f"token expired {now - expires:.0f} s ago")
    return name


def load_secret(secret_file: str | None, data_dir: str | None,
                environ: Mapping[str, str] = os.environ) -> bytes:
    """The HMAC key: from `secret_file`, else $LOOM_SECRET, else `data_dir`/secret, which is
    generated (32 random bytes, hex, mode 0600) the first time. AuthError says what failed."""
    try:
        secret, source = find_secret(
            secret_file, SECRET_ENV, data_dir, SECRET_FILE_NAME,
            make=lambda: secrets.token_hex(32), what="secret", environ=environ,
            missing=f"no secret: name a --secret-file, set ${SECRET_ENV} or give a "
                    "--data-dir to generate one in")
    except SecretError as exc:
        raise AuthError(str(exc)) from None
    if len(secret) < MIN_SECRET_BYTES:
        raise AuthError(f"the secret in {source} holds {len(secret)} bytes; a secret needs "
                        f"at least {MIN_SECRET_BYTES}")
    return secret
