"""Whether medic reads an archive past its manifest: signed with this medic's key and registered in
its backups table, or accepted anyway by the operator (--trust-unsigned)."""

from __future__ import annotations

from dataclasses import dataclass

from workers.maintenance.backup import signing

TRUST_FLAG = "--trust-unsigned"


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    detail: str


def decide(problems: list[str], *, trust_unsigned: bool, key_id: str | None) -> Verdict:
    """Pure: what the archive's signature and registration problems (none: vouched for) come to."""
    if not problems:
        return Verdict(True, f"signed with this medic's key {key_id}, registered")
    found = " and ".join(problems)
    if trust_unsigned:
        return Verdict(True, f"{found}: accepted by {TRUST_FLAG}")
    return Verdict(False, f"{found}: refused. Pass {TRUST_FLAG} to accept it anyway, only for a file you know "
                          f"medic made (archives made before medic signed them are unsigned)")


@dataclass(frozen=True)
class Gate:
    key: signing.Key | None
    registration_problem: str | None  # None: registered
    trust_unsigned: bool = False

    def admit(self, manifest_bytes: bytes, signature: bytes | None) -> Verdict:
        problems = [found for found in (signing.problem(manifest_bytes, signature, self.key),
                                        self.registration_problem) if found]
        return decide(problems, trust_unsigned=self.trust_unsigned, key_id=self.key.key_id if self.key else None)

