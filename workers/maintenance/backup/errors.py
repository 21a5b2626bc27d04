"""What goes wrong in backups on purpose: a refused or untrusted archive, a refused restore, a failed tool."""

from __future__ import annotations

from config.errors import MedicError


class BackupError(MedicError):
    """A backup, verification or restore could not be done; the message says why."""


class ArchiveInvalid(BackupError):
    """The archive is unreadable, tampered with, or holds a member that could escape its directory."""

    def __init__(self, member: str | None, reason: str):
        super().__init__(f"archive member {member!r}: {reason}" if member else f"archive: {reason}")
        self.member = member
        self.reason = reason


class ArchiveUntrusted(BackupError):
    """medic cannot vouch for the archive (unsigned, signed otherwise, not registered) and the
    operator did not accept it anyway: nothing past its manifest was read. Not a verification result."""

    def __init__(self, archive: str, reason: str):
        super().__init__(f"archive {archive} {reason}")


class RestoreRefused(BackupError):
    """The restore would be unsafe or cannot work (wrong database kind, unknown schema revision)."""
