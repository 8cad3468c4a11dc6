"""Files beside the database that only its owner may read: the discovery file and the token.

`<db>.serve.json` tells local clients where the running receiver listens and holds a
per-start key the receiver proves it knows; `<db>.token` holds the bearer token the
receiver requires for review writes when none was given. Both are written 0600, and
a reader trusts one only when it is a regular file owned by the same user and
closed to everyone else: anyone could otherwise plant a file that sends the real
token, or review writes, to a listener of their own.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from spansift.errors import SpansiftError


def discovery_path(db: str | Path) -> Path:
    """Where a running receiver announces itself (never holds the token)."""
    return Path(f"{db}.serve.json")


def token_path(db: str | Path) -> Path:
    """The generated bearer token for review writes through a receiver."""
    return Path(f"{db}.token")


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically with mode 0600."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def untrusted(path: Path) -> str | None:
    """Why `path` must not be trusted (None when it may be): owner, type or mode."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "it does not exist"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_uid != os.geteuid():
        return f"it belongs to uid {info.st_uid}, not to you"
    if info.st_mode & 0o077:
        return f"its mode is {stat.S_IMODE(info.st_mode):04o}; it must be 0600"
    return None


def read_private(path: Path) -> str | None:
    """The text of `path` if it is trusted (see `untrusted`), else None."""
    if untrusted(path) is not None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def load_or_create_token(db: str | Path) -> str:
    """The token in `<db>.token`, created at first use; `SpansiftError` if it is not private."""
    path = token_path(db)
    problem = untrusted(path)
    if problem == "it does not exist":
        token = secrets.token_urlsafe(32)
        write_private(path, token + "\n")
        return token
    if problem is not None:
        msg = f"token file {path}: {problem}; remove it (a new one is generated) or fix it"
        raise SpansiftError(msg)
    text = read_private(path)
    token = (text or "").strip()
    if not token:
        msg = f"token file {path} is empty or unreadable; remove it and a new one is generated"
        raise SpansiftError(msg)
    return token


def proof(key: str, challenge: str) -> str:
    """What a receiver answers to `challenge` to show it knows its per-start `key`."""
    return hmac.new(key.encode(), challenge.encode(), hashlib.sha256).hexdigest()


def new_challenge() -> str:
    return secrets.token_hex(16)


def proof_ok(key: str, challenge: str, answer: object) -> bool:
    return isinstance(answer, str) and hmac.compare_digest(proof(key, challenge), answer)
