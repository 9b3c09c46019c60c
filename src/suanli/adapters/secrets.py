"""Encryption at rest for the few secrets suanli stores (cluster credentials): Fernet.

The key comes from `SUANLI_SECRET_KEY` (a Fernet key) or from `<data_dir>/secret.key`, made with
mode 0600 on first use. It is never a Settings field, so it never shows up in a settings dump.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from suanli.errors import SuanliError
from suanli.i18n import msg

KEY_ENV = "SUANLI_SECRET_KEY"
KEY_FILE_NAME = "secret.key"
KEY_FILE_MODE = 0o600
SECRET_BYTES_MAX = 16 * 1024  # a credentials blob larger than this is refused before encrypting


class SecretKeyError(SuanliError):
    """The secret key is missing, malformed, or not the one the data was encrypted with."""

    code = "secret_key_error"


class SecretBox:
    """Encrypts and decrypts small JSON mappings; repr() never shows the key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as error:
            raise SecretKeyError(
                msg(
                    f"密钥不是 Fernet 密钥（32 字节的 URL 安全 Base64）：“{error}”",
                    f"the secret key is not a Fernet key (urlsafe base64 of 32 bytes): {error}",
                )
            ) from error

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, values: Mapping[str, str]) -> str:
        plain = json.dumps(dict(values), sort_keys=True).encode()
        if len(plain) > SECRET_BYTES_MAX:
            raise SecretKeyError(
                msg(
                    f"机密数据超过 {SECRET_BYTES_MAX} 字节",
                    f"secret data over {SECRET_BYTES_MAX} bytes",
                )
            )
        return self._fernet.encrypt(plain).decode("ascii")

    def open(self, token: str) -> dict[str, str]:
        try:
            plain = self._fernet.decrypt(token.encode("ascii"))
        except InvalidToken as error:
            # Wrong key (a new data dir, or SUANLI_SECRET_KEY changed) or tampered data.
            raise SecretKeyError(
                msg(
                    "无法用这个密钥解密已存的凭据",
                    "stored credentials cannot be decrypted with this secret key",
                )
            ) from error
        values = json.loads(plain)
        return {str(key): str(value) for key, value in values.items()}


def load_secret_box(data_dir: Path) -> SecretBox:
    """The box for this deployment: SUANLI_SECRET_KEY if set, else the data dir's key file."""
    from_env = os.environ.get(KEY_ENV, "").strip()
    if from_env:
        return SecretBox(from_env.encode("ascii"))
    return SecretBox(_key_file(data_dir / KEY_FILE_NAME))


def _key_file(path: Path) -> bytes:
    """Reads the key file, creating it first if absent."""
    if not path.exists():
        _create_key_file(path)
    _require_private(path)
    key = path.read_bytes().strip()
    if not key:
        raise SecretKeyError(msg(f"密钥文件 {path} 为空", f"the secret key file {path} is empty"))
    return key


def _create_key_file(path: Path) -> None:
    """Writes a whole key to a private temp file, then links it into place: a concurrent
    first use either wins or reads the winner's complete key, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(Fernet.generate_key())
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: everyone uses theirs
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _require_private(path: Path) -> None:
    # A key readable by other users is as good as no key: refuse rather than use it.
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SecretKeyError(
            msg(
                f"密钥文件 {path} 的权限是 {mode:o}，须为 600（`chmod 600 {path}`）",
                f"the secret key file {path} has mode {mode:o}; it must be 600 (chmod 600 {path})",
            )
        )
