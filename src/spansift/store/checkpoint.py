"""Checkpoints: a small note naming the chain head, signed with an Ed25519 key kept elsewhere.

The note follows the shape of a transparency-log checkpoint (a C2SP signed note):

    spansift/<origin>
    <number of chain entries>
    <base64 of the head hash>

    — <key name> <base64(4-byte key id || Ed25519 signature of the text above)>

Store the note outside the database (another machine, a ticket, a git repo).
`spansift verify --checkpoint NOTE` then proves the log still extends it: the
chain verifies, and its entry at that size still has that hash. Without a key the
note is unsigned: it still pins the head, but anyone can write one.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from spansift.errors import SpansiftError

_PREFIX = "spansift/"
_ED25519 = b"\x01"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain head: the log `origin`, how many entries, and the hash of the last."""

    origin: str
    size: int
    head_hash: str

    def body(self) -> str:
        head = base64.b64encode(bytes.fromhex(self.head_hash)).decode()
        return f"{_PREFIX}{self.origin}\n{self.size}\n{head}\n"


def _key_id(name: str, public: Ed25519PublicKey) -> bytes:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + raw).digest()[:4]


def new_key(path: Path) -> Path:
    """Write a new Ed25519 private key (PEM, mode 0600) and its public key beside it."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.touch(mode=0o600, exist_ok=False)
    path.write_bytes(pem)
    public = path.with_name(path.name + ".pub")
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return public


def _load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        msg = f"{path}: not an Ed25519 private key; create one with `spansift checkpoint --new-key`"
        raise SpansiftError(msg)
    return key


def _load_public(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        msg = f"{path}: not an Ed25519 public key"
        raise SpansiftError(msg)
    return key


def sign(checkpoint: Checkpoint, key_path: Path | None, key_name: str = "spansift") -> str:
    """The note text: the body, plus a signature line when a key is given."""
    body = checkpoint.body()
    if key_path is None:
        return body
    key = _load_private(key_path)
    signature = key.sign(body.encode())
    blob = base64.b64encode(_key_id(key_name, key.public_key()) + signature).decode()
    return f"{body}\n\u2014 {key_name} {blob}\n"


def parse(text: str, source: str) -> tuple[Checkpoint, list[tuple[str, bytes]]]:
    """The checkpoint in a note and its signature lines as (key name, key id + signature)."""
    body, _, signatures = text.partition("\n\n")
    lines = body.split("\n")
    try:
        origin, size, head = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    except (IndexError, ValueError) as exc:
        msg = f"{source}: not a spansift checkpoint ({exc})"
        raise SpansiftError(msg) from exc
    if not origin.startswith(_PREFIX) or len(head) != 32:
        msg = f"{source}: not a spansift checkpoint (first line must start with {_PREFIX!r})"
        raise SpansiftError(msg)
    found: list[tuple[str, bytes]] = []
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "\u2014":
            found.append((parts[1], base64.b64decode(parts[2])))
    return Checkpoint(origin.removeprefix(_PREFIX), size, head.hex()), found


def check_signature(text: str, public_path: Path, source: str) -> None:
    """Raise unless one signature line of the note verifies with the public key."""
    checkpoint, signatures = parse(text, source)
    public = _load_public(public_path)
    body = checkpoint.body().encode()
    for name, blob in signatures:
        if blob[:4] != _key_id(name, public):
            continue
        try:
            public.verify(blob[4:], body)
        except InvalidSignature:
            continue
        return
    msg = f"{source}: no valid signature for the key in {public_path}"
    raise SpansiftError(msg)
