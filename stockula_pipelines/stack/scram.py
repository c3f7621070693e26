"""SCRAM-SHA-256 password verifiers (RFC 5802 / RFC 7677, as PostgreSQL stores them in pg_authid).

A login role's password is only ever sent to the server as a verifier computed on this side
(``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``), so no statement text, which
pg_stat_statements and pg_stat_activity show to ``pg_monitor`` members, holds the password itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

ITERATIONS = 4096  # PostgreSQL's scram_iterations default
SALT_BYTES = 16
_VERIFIER = re.compile(r"SCRAM-SHA-256\$(?P<iterations>\d+):(?P<salt>[^$]+)\$(?P<stored>[^:]+):(?P<server>.+)")


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def _plain_ascii(password: str) -> bool:
    # SASLprep (which PostgreSQL applies before hashing) leaves printable ASCII unchanged; anything
    # else is left to libpq, which implements it in full.
    return password.isascii() and password.isprintable()


def verifier(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The verifier PostgreSQL would store for ``password`` (printable ASCII only; see make_verifier)."""
    if not _plain_ascii(password):
        raise ValueError("only printable ASCII passwords are hashed here; use libpq (make_verifier)")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    stored, server = _keys(password, salt, iterations)
    b64 = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server)}"


def make_verifier(conn, user: str, password: str) -> str:
    """A fresh verifier from libpq (PQencryptPasswordConn computes it client-side, with SASLprep)."""
    return conn.pgconn.encrypt_password(password.encode("utf-8"), user.encode("utf-8"),
                                        b"scram-sha-256").decode("ascii")


def matches(stored_verifier: str | None, password: str) -> bool:
    """True when ``stored_verifier`` (pg_authid.rolpassword) was made from ``password``.

    False for anything it cannot prove: no password, an md5 hash, or a password SASLprep could change.
    """
    match = _VERIFIER.fullmatch(stored_verifier or "")
    if match is None or not _plain_ascii(password):
        return False
    try:
        salt = base64.b64decode(match["salt"], validate=True)
        stored = base64.b64decode(match["stored"], validate=True)
        server = base64.b64decode(match["server"], validate=True)
    except ValueError:
        return False
    want_stored, want_server = _keys(password, salt, int(match["iterations"]))
    return hmac.compare_digest(stored, want_stored) and hmac.compare_digest(server, want_server)
