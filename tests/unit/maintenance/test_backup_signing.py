"""Signatures, the trust decision and the signing key: pure, or on files in a temporary directory."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from config.settings import load_settings
from workers.maintenance.backup import keyfile
from workers.maintenance.backup.errors import BackupError
from workers.maintenance.backup.signing import Key, problem, sign
from workers.maintenance.backup.trust import TRUST_FLAG, Gate, Verdict, decide

KEY, OTHER = Key(b"k" * 32), Key(b"o" * 32)
MANIFEST = b'{"format": "medic-backup"}'


def test_a_signature_verifies_with_its_key_only():
    signature = sign(MANIFEST, KEY)
    assert signature.decode().startswith(f"hmac-sha256 {KEY.key_id} ")
    assert problem(MANIFEST, signature, KEY) is None
    assert problem(MANIFEST + b" ", signature, KEY) == \
        "has a signature that does not match its manifest (changed after it was signed)"
    assert problem(MANIFEST, signature, OTHER) == f"is signed with key {KEY.key_id}, not with this medic's key " \
                                                  f"{OTHER.key_id}"
    assert problem(MANIFEST, signature, None) == f"is signed with key {KEY.key_id} and this medic has no backup " \
                                                 f"signing key"
    assert problem(MANIFEST, None, KEY) == "is unsigned"
    assert problem(MANIFEST, signature[:-5], KEY) == "has a signature medic cannot read"


def test_the_key_id_names_the_key_without_revealing_it():
    assert KEY.key_id != OTHER.key_id and len(KEY.key_id) == 16
    assert "k" * 32 not in repr(KEY)


def test_trust_is_signed_and_registered_or_the_operators_word():
    assert decide([], trust_unsigned=False, key_id="ab") == Verdict(True, "signed with this medic's key ab, registered")
    refused = decide(["is unsigned", "is not registered"], trust_unsigned=False, key_id="ab")
    assert not refused.accepted and refused.detail.startswith("is unsigned and is not registered: refused. Pass ")
    accepted = decide(["is unsigned"], trust_unsigned=True, key_id="ab")
    assert accepted.accepted and accepted.detail == f"is unsigned: accepted by {TRUST_FLAG}"


def test_the_gate_weighs_signature_and_registration_together():
    signature = sign(MANIFEST, KEY)
    assert Gate(KEY, None).admit(MANIFEST, signature).accepted
    unregistered = Gate(KEY, "is not registered in medic's backups table").admit(MANIFEST, signature)
    assert not unregistered.accepted and "is not registered" in unregistered.detail


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=str(tmp_path / "data"))


def test_the_first_backup_creates_the_key_file_and_later_ones_read_it(settings):
    assert keyfile.load(settings) is None
    key = keyfile.load_or_create(settings)
    path = keyfile.key_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_text().strip()) == 64
    assert keyfile.load(settings) == key == keyfile.load_or_create(settings)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_two_first_backups_at_once_share_one_key(settings):
    keys: list[Key] = []
    threads = [threading.Thread(target=lambda: keys.append(keyfile.load_or_create(settings))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1


def test_a_configured_key_wins_and_creates_no_file(tmp_path):
    configured = load_settings(data_dir=str(tmp_path / "data"), backup={"signing_key": "s" * 32})
    assert keyfile.load_or_create(configured) == Key(b"s" * 32)
    assert not keyfile.key_path(configured).exists()


def test_a_short_configured_key_is_a_configuration_error(tmp_path):
    with pytest.raises(Exception, match="at least 32"):
        load_settings(data_dir=str(tmp_path), backup={"signing_key": "short"})


@pytest.mark.parametrize(("mode", "content", "reason"), [
    (0o640, "k" * 64, "open to other users"),
    (0o602, "k" * 64, "open to other users"),
    (0o600, "short\n", "fewer than 32 characters"),
])
def test_an_unsafe_or_broken_key_file_is_refused(settings, mode, content, reason):
    path = keyfile.key_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    os.chmod(path, mode)
    with pytest.raises(BackupError, match=reason):
        keyfile.load(settings)
