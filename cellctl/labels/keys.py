"""The site's Ed25519 signing key (private, owner-only) and its published public key."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cellctl.labels.errors import KeyFileError, KeyTooOpenError


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint to print beside codes: ed25519:<16 hex>."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def generate(private_path: str | Path, public_path: str | Path | None = None) -> tuple[Path, Path]:
    """Write a new key pair; the private file is created 0600 and never overwritten."""
    private_path = Path(private_path)
    public_path = Path(public_path) if public_path else private_path.with_suffix(".pub")
    for p in (private_path, public_path):
        if p.exists():
            raise KeyFileError(f"{p} already exists: refusing to overwrite a key")
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(private_path, 0o600)  # the umask may have removed bits, never added: be exact
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path


def check_owner_only(path: str | Path) -> None:
    """Raise KeyTooOpenError if group or others have any access to the key file."""
    path = Path(path)
    st = path.stat()
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyTooOpenError(
            f"signing key {path} is open to other users (mode {stat.S_IMODE(st.st_mode):03o}): "
            f"run `chmod 600 {path}`"
        )


def load_private(path: str | Path) -> Ed25519PrivateKey:
    """Load the signing key; refuse one that group or others can read."""
    path = Path(path)
    try:
        check_owner_only(path)
    except FileNotFoundError:
        raise KeyFileError(
            f"no signing key at {path}: make one with `cellctl label keygen --out {path}`"
        ) from None
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public(path: str | Path) -> Ed25519PublicKey:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"no public key at {path}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
    return key
