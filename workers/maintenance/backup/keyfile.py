"""The backup signing key: MEDIC_BACKUP__SIGNING_KEY when set; otherwise the key file
backup-signing.key in MEDIC_DATA_DIR, which the first backup creates (mode 0600, 32 random bytes
in hex, a value MEDIC_BACKUP__SIGNING_KEY accepts). Verification and restore only read it.

The key file is never archived. A key set in the config file is: the config file is in every archive.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path

from config.settings import Settings
from workers.durable import fsync_directory
from workers.maintenance.backup.errors import BackupError
from workers.maintenance.backup.signing import Key

KEY_FILE_NAME = "backup-signing.key"
KEY_BYTES = 32
MIN_KEY_CHARS = 32  # as the setting's min_length
_MAX_FILE_BYTES = 4096
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def key_path(settings: Settings) -> Path:
    return settings.data_dir.expanduser().resolve() / KEY_FILE_NAME


def load(settings: Settings) -> Key | None:
    """The key; None when none is configured and no backup has created the key file yet."""
    if settings.backup.signing_key is not None:
        return Key(settings.backup.signing_key.get_secret_value().encode())
    return _read(key_path(settings))


def load_or_create(settings: Settings) -> Key:
    return load(settings) or _create(key_path(settings))


def _read(path: Path) -> Key | None:
    try:
        with open(path, "rb") as stream:
            mode = os.fstat(stream.fileno()).st_mode
            secret = stream.read(_MAX_FILE_BYTES).strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BackupError(f"cannot read the backup signing key {path}: {exc.strerror or exc}") from None
    if mode & _OTHERS:
        raise BackupError(f"the backup signing key {path} is open to other users (mode {stat.S_IMODE(mode):o}): "
                          f"anyone who can write it can sign archives; chmod 600 it")
    if len(secret) < MIN_KEY_CHARS:
        raise BackupError(f"the backup signing key {path} holds fewer than {MIN_KEY_CHARS} characters")
    return Key(secret)


def _create(path: Path) -> Key:
    """A new random key, written whole under a temporary name and linked into place: of two first
    backups at once, one creates the file and both use it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(secrets.token_hex(KEY_BYTES).encode() + b"\n")
                stream.flush()
                os.fsync(stream.fileno())
            try:
                os.link(partial, path)
            except FileExistsError:
                pass
            fsync_directory(path.parent)
        finally:
            os.unlink(partial)
    except OSError as exc:
        raise BackupError(f"cannot create the backup signing key {path}: {exc.strerror or exc}") from None
    key = _read(path)
    if key is None:
        raise BackupError(f"the backup signing key {path} vanished as it was created")
    return key
