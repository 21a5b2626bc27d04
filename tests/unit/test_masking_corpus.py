"""Secrets that used to pass masking: each case's secret must not survive, the text around it must.

Free text goes through mask_text, JSON-like data through mask_value, whole events through
intake's triage (every field of the contract, every target).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from workers.classification import Classifier
from workers.classification.rules import load_rules
from workers.intake.contract import ErrorEvent
from workers.intake.triage import Accepted, Limits, triage
from workers.masking import MASK, mask_text, mask_value

SECRET = "Hx7-secret-Qm9"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PEM_BODY = "MIIEowIBAAKCAQEA1x2y3z\nQWERTYasdfgh+/zxcv==\n"
VISA = "4111111111111111"

# (text, the secret in it, pieces of the text that must be kept)
FREE_TEXT = [
    # Authorization schemes in any case
    (f"Authorization: BEARER {SECRET}", SECRET, ["Authorization: BEARER "]),
    (f"authorization: bearer {SECRET}\nhost: x", SECRET, ["authorization: bearer ", "\nhost: x"]),
    (f"sent Bearer {SECRET} twice", SECRET, ["sent Bearer ", " twice"]),
    # passwords in DSNs holding # / ? @
    ("postgresql://user:p#ss/w?rd@host/db failed", "p#ss/w?rd", ["postgresql://user:", "@host/db failed"]),
    ("redis://:pa/ss?w#d@cache:6379/0", "pa/ss?w#d", ["redis://:", "@cache:6379/0"]),
    ("mysql://app:s3cr@t@db/shop", "s3cr@t", ["mysql://app:", "@db/shop"]),
    # private keys: the whole block
    (f"key: -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}-----END RSA PRIVATE KEY----- loaded", "QWERTYasdfgh",
     ["key: -----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY----- loaded"]),
    (f"-----BEGIN EC PRIVATE KEY-----\n{PEM_BODY}-----END EC PRIVATE KEY-----", "MIIEowIBAAKCAQEA1x2y3z",
     ["-----BEGIN EC PRIVATE KEY-----", "-----END EC PRIVATE KEY-----"]),
    (f"-----BEGIN OPENSSH PRIVATE KEY-----\\n{PEM_BODY}\\n-----END OPENSSH PRIVATE KEY-----", "QWERTYasdfgh",
     ["-----BEGIN OPENSSH PRIVATE KEY-----"]),
    (f"cut: -----BEGIN PRIVATE KEY-----\n{PEM_BODY}", "QWERTYasdfgh", ["cut: -----BEGIN PRIVATE KEY-----"]),
    # chat webhooks
    ("posting to https://hooks.slack.com/services/T0001/B0002/XXXXXXXXXXXXXXXXXXXXXXXX failed",
     "XXXXXXXXXXXXXXXXXXXXXXXX", ["posting to https://hooks.slack.com/services/", " failed"]),
    ("https://discord.com/api/webhooks/1234/abcdEFGH-ijkl_MNOP rejected", "abcdEFGH-ijkl_MNOP",
     ["https://discord.com/api/webhooks/", " rejected"]),
    # vendor tokens
    ("webhook secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw bad", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
     ["webhook secret ", " bad"]),
    ("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 sent", "TwL2iGABf9DHoTf",
     [" sent"]),
    ("twilio SK0123456789abcdef0123456789abcdef used", "0123456789abcdef0123456789abcdef", ["twilio ", " used"]),
    ("npm_abcdefghijklmnopqrstuvwxyz0123456789 in .npmrc", "abcdefghijklmnopqrstuvwxyz0123456789",
     [" in .npmrc"]),
    ("OPENAI sk-proj-abcDEF123456_ghiJKL789012-mnoPQR345678 quota", "abcDEF123456_ghiJKL789012",
     ["OPENAI ", " quota"]),
    ("legacy sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD used", "abcdefghijklmnopqrstuvwxyz0123456789ABCD",
     ["legacy ", " used"]),
    ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789-ABCDEFG_hijk rejected", "abcdefghijklmnopqrstuvwxyz012",
     [" rejected"]),
    ("gitlab glpat-xxxxXXXX1234yyyyYYYY clone", "xxxxXXXX1234yyyyYYYY", ["gitlab ", " clone"]),
    # Azure connection strings and SAS
    (f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={SECRET};EndpointSuffix=core.windows.net",
     SECRET, ["AccountName=acme;AccountKey=", ";EndpointSuffix=core.windows.net"]),
    (f"Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey={SECRET}", SECRET,
     ["SharedAccessKeyName=root;SharedAccessKey="]),
    (f"GET https://acme.blob.core.windows.net/c/b?sv=2022-11-02&sr=b&sig={SECRET}&se=2030", SECRET,
     ["?sv=2022-11-02&sr=b&sig=", "&se=2030"]),
    # other query and assignment forms
    (f"GET https://maps.example.com/api?key={SECRET}&q=paris", SECRET, ["/api?key=", "&q=paris"]),
    (f"login pass={SECRET} user=bob", SECRET, ["login pass=", " user=bob"]),
    (f"login pw={SECRET} user=bob", SECRET, ["login pw=", " user=bob"]),
    (f"PGPASSWORD={SECRET} psql -h db", SECRET, ["PGPASSWORD=", " psql -h db"]),
    (f"env REDIS_AUTH={SECRET} SMTP_PASS={SECRET}", SECRET, ["env REDIS_AUTH=", " SMTP_PASS="]),
    (f"body user%3Dbob%26password%3D{SECRET} sent", SECRET, ["body user%3Dbob%26password%3D"]),
    (f"?q=user%3Dbob%26api_key%3D{SECRET}&x=1", SECRET, ["?q=user%3Dbob%26api_key%3D", "&x=1"]),
    (f"<user>bob</user><password>{SECRET}</password>", SECRET, ["<user>bob</user><password>", "</password>"]),
    (f"<db:Password>{SECRET}</db:Password>", SECRET, ["<db:Password>", "</db:Password>"]),
    # command lines
    (f"ran curl -s -X POST -u admin:{SECRET} https://api.example.com", SECRET,
     ["ran curl -s -X POST -u admin:", " https://api.example.com"]),
    (f"exec mysql -h db -u root -p{SECRET} shop", SECRET, ["exec mysql -h db -u root -p", " shop"]),
    (f"sshpass -p '{SECRET}' ssh deploy@web1", SECRET, ["sshpass -p '", "' ssh deploy@web1"]),
    # a separator, then a line break or a no-break space
    (f"config:\n  password:\n    {SECRET}\n  user: bob", SECRET, ["config:\n  password:\n    ", "\n  user: bob"]),
    (f"password:\u00a0{SECRET} end", SECRET, ["password:\u00a0", " end"]),
    # an AWS secret key right after its access key id
    (f"creds AKIAIOSFODNN7EXAMPLE {AWS_SECRET} ok", AWS_SECRET, ["creds ", " ok"]),
    (f'["AKIAIOSFODNN7EXAMPLE", "{AWS_SECRET}"]', AWS_SECRET, ['["', '", "', '"]']),
    (f"AKIAIOSFODNN7EXAMPLE,{AWS_SECRET}\n", AWS_SECRET, [",", "\n"]),
    # card numbers in other writings
    ("card 4111.1111.1111.1111 declined", "4111.1111.1111", ["card ", "1111 declined"]),
    ("card ４１１１ １１１１ １１１１ １１１１ declined", "４１１１ １１１１ １１１１", ["card ", " declined"]),
    ("amex 3782 822463 10005 ok", "822463", ["amex ", "0005 ok"]),
]

# Text that must come out unchanged.
UNCHANGED = [
    "task 3d9cb3bb-1234-5678-9012-3456789abcde succeeded in 0.2s",
    "Task medic.report[3d9cb3bb-4111-1111-1111-111111111111] received",
    "id 12345678-4111-1111-1111-1111aaaaaaaa",
    "version 4.1111.1111.1111 released",
    "GET https://example.com:8443/path?page=2&sort=asc&email=a@b.io",
    "ssh -p 2222 deploy@web1",
    "mkdir -p /var/lib/medic && git push -u origin main:main",
    "auth: failed after 3 attempts",
    "PASS: 12 tests, pass: all",
    "the sk-learn model is loaded",
    "WWW-Authenticate: Basic realm=\"medic\"",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
    "tokenizer=bert max_tokens=10 author: bob",
    "keys=3 key=users:42",
]


@pytest.mark.parametrize("text, secret, kept", FREE_TEXT, ids=[case[0][:40] for case in FREE_TEXT])
def test_free_text_secret_is_masked_and_the_rest_kept(text, secret, kept):
    masked = mask_text(text)
    assert secret not in masked, masked
    assert MASK in masked
    for piece in kept:
        assert piece in masked, (piece, masked)


@pytest.mark.parametrize("text", UNCHANGED)
def test_ordinary_text_is_unchanged(text):
    assert mask_text(text) == text


# --------------------------------------------------------------------------- mask_value


@pytest.mark.parametrize("key", [
    "passwords", "secrets", "tokens", "api_keys", "DB_PASS", "SMTP_PASS", "PGPASSWORD", "REDIS_AUTH", "auth",
    "jwt", "bearer", "ssh_key", "client_secret_b64", "credentials_json", "mfa_code", "otp", "AccountKey",
])
@pytest.mark.parametrize("value", [SECRET, [SECRET], {"prod": SECRET, "nested": [{"any": SECRET}]}])
def test_secret_keys_mask_the_whole_value(key, value):
    masked = mask_value({key: value, "user": "bob"})
    assert masked == {key: MASK, "user": "bob"}


def test_a_count_under_a_plural_key_is_kept():
    assert mask_value({"max_tokens": 4096, "tokens": 12, "passwords": 0}) == {
        "max_tokens": 4096, "tokens": 12, "passwords": 0}


@pytest.mark.parametrize("value, expected", [
    (["mysqldump", "--password", SECRET, "shop"], ["mysqldump", "--password", MASK, "shop"]),
    (["run", "--api-key", SECRET], ["run", "--api-key", MASK]),
    ([["X-Api-Key", SECRET], ["Accept", "*/*"]], [["X-Api-Key", MASK], ["Accept", "*/*"]]),
    ([{"name": "password", "value": SECRET}, {"name": "user", "value": "bob"}],
     [{"name": "password", "value": MASK}, {"name": "user", "value": "bob"}]),
    ([{"key": "Authorization", "value": SECRET}], [{"key": "Authorization", "value": MASK}]),
    ({"env": [{"Name": "DB_PASSWORD", "Value": SECRET}]}, {"env": [{"Name": "DB_PASSWORD", "Value": MASK}]}),
])
def test_secrets_split_across_elements_are_masked(value, expected):
    assert mask_value(value) == expected


def test_keys_that_are_secrets_become_placeholders():
    github, stripe = "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    masked = mask_value({github: {"scopes": ["repo"]}, "user": "bob", stripe: "acct_1", f"Bearer {SECRET}": 1})
    assert masked == {f"{MASK}1": {"scopes": ["repo"]}, "user": "bob", f"{MASK}2": "acct_1", f"{MASK}3": 1}


def test_a_placeholder_never_replaces_an_existing_key():
    masked = mask_value({f"{MASK}1": "kept", "ghp_16C7e42F292c6912E7710c838347Ae178B4a": "x"})
    assert masked == {f"{MASK}1": "kept", f"{MASK}2": "x"}


@pytest.mark.parametrize("value", [
    ["requests.exceptions.ConnectionError", "OSError", "Exception"],
    ["-v", "--password-file", "/run/secrets/db", "--verbose"],
    {"name": "orders", "value": 3},
    {"bucket": "acme", "key": "credentials.json", "size": 120},
    {"error_mro": ["Token", "Exception"]},
])
def test_ordinary_data_is_unchanged(value):
    assert mask_value(value) == value


# --------------------------------------------------------------------------- whole events

LIMITS = Limits(max_message_chars=256, max_traceback_chars=1_024, max_context_bytes=4_096, max_event_bytes=65_536,
                max_nesting_depth=8, rejected_payload_max_bytes=1_024)
RECEIVED = datetime(2024, 5, 1, tzinfo=UTC)
BASE: dict[str, Any] = {"error_type": "ConnectionError", "message": "connection refused", "service": "billing"}
TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text("rules:\n  - {id: test.refused, when: {type: ConnectionError}, category: network}\n")
    return Classifier(load_rules([path]))


def stored(classifier, **fields) -> dict:
    result = triage({**BASE, **fields}, limits=LIMITS, classifier=classifier, received_at=RECEIVED)
    assert isinstance(result, Accepted), result
    return result.event


def _types_in(annotation: Any) -> list[Any]:
    return [annotation, *(inner for arg in get_args(annotation) for inner in _types_in(arg))]


# Targets are the contract's models told apart by `kind`.
TARGET_KINDS = {kind for name in ErrorEvent.model_fields for kind in _types_in(ErrorEvent.model_fields[name].annotation)
                if isinstance(kind, type) and issubclass(kind, BaseModel) and "kind" in kind.model_fields}
TARGET_FIELDS = [name for name in ErrorEvent.model_fields
                 if TARGET_KINDS & set(_types_in(ErrorEvent.model_fields[name].annotation))]


# One target of each kind, with a secret in every place it can hold one.
SECRET_TARGETS = [
    {"kind": "celery", "task": "billing.charge", "queue": "default",
     "args": [f"password={SECRET}", "--token", SECRET], "kwargs": {"api_key": SECRET, "note": f"Bearer {SECRET}"},
     "headers": {"authorization": f"Bearer {SECRET}", "x-api-key": SECRET, "note": f"token={SECRET}"}, "priority": 5},
    {"kind": "http", "url": f"https://svc:{SECRET}@api.example.com/hook?token={SECRET}",
     "headers": {"Authorization": f"Bearer {SECRET}", "Cookie": f"sid={SECRET}", "X-Note": f"api_key={SECRET}"},
     "body": {"password": SECRET, "items": [{"name": "secret", "value": SECRET}]}},
    {"kind": "action", "name": "refund", "params": {"client_secret": SECRET, "note": f"pw={SECRET}"}},
]


def test_every_kind_of_target_has_a_case():
    assert {target["kind"] for target in SECRET_TARGETS} == {get_args(kind.model_fields["kind"].annotation)[0]
                                                              for kind in TARGET_KINDS}


@pytest.mark.parametrize("field", TARGET_FIELDS)
@pytest.mark.parametrize("target", SECRET_TARGETS, ids=lambda target: target["kind"])
def test_a_secret_in_any_target_is_masked(classifier, field, target):
    event = stored(classifier, **{field: target})
    assert SECRET not in json.dumps(event)
    assert event[field]["kind"] == target["kind"]


def test_a_legitimate_http_target_is_stored_as_sent(classifier):
    target = {"kind": "http", "method": "PUT", "url": "https://api.example.com/orders/42?page=2",
              "headers": {"Content-Type": "application/json", "X-Request-Id": "r-1"},
              "body": {"order": 42, "items": ["a", "b"]}, "timeout_s": 5.0, "idempotency": "execution"}
    assert stored(classifier, compensate=target)["compensate"] == target


# A secret in every field of the contract; a field added to it must get a case here.
SECRET_FIELDS: dict[str, Any] = {
    "error_type": f"AuthError token={SECRET}",
    "message": f"login failed password={SECRET}",
    "service": f"billing api_key={SECRET}",
    "error_mro": [f"Base password={SECRET}", "Exception"],
    "operation": f"charge token={SECRET}",
    "source": f"https://app:{SECRET}@orders.example.com",
    "http_status": None,  # a number: nothing to hide
    "errno": f"pw={SECRET}",
    "code": f"Bearer {SECRET}",
    "causes": [{"error_type": f"DbError password={SECRET}", "message": f"api_key={SECRET}", "password": SECRET}],
    "traceback": f'connect(password="{SECRET}")',
    "context": {"nested": {"token": SECRET}},
    "occurred_at": None,  # a time: nothing to hide
    "idempotency_key": f"order-1 api_key={SECRET}",
    "replay": SECRET_TARGETS[0],
    "fallback": SECRET_TARGETS[1],
    "compensate": SECRET_TARGETS[2],
    "plan_hint": f"payments token={SECRET}",
    "medic_execution_id": None,  # a number: nothing to hide
    "schema_version": None,  # a constant: nothing to hide
}


def test_every_field_of_the_contract_has_a_case():
    assert set(SECRET_FIELDS) == set(ErrorEvent.model_fields)


@pytest.mark.parametrize("field", [name for name, value in SECRET_FIELDS.items() if value is not None])
def test_a_secret_in_any_field_is_masked(classifier, field):
    event = stored(classifier, **{field: SECRET_FIELDS[field]})
    assert SECRET not in json.dumps(event)


def test_a_secret_in_an_extra_field_name_is_masked(classifier):
    event = stored(classifier, **{TOKEN: "value"})
    assert TOKEN not in json.dumps(event)
    assert event[f"{MASK}1"] == "value"


def test_names_without_secrets_reach_the_classifier_unchanged(classifier):
    mro = ["requests.exceptions.ConnectionError", "requests.exceptions.RequestException", "OSError", "Exception"]
    fields = {"error_type": "requests.exceptions.ConnectTimeout", "error_mro": mro, "service": "billing-api",
              "operation": "charge_card", "source": "orders-api@1.4.2", "code": "ECONNREFUSED", "errno": 111,
              "idempotency_key": "orders-api:order-981-push:3d9cb3bb-1234-5678-9012-3456789abcde"}
    event = stored(classifier, **fields, causes=[{"error_type": "urllib3.exceptions.NewConnectionError"}])
    assert {name: event[name] for name in fields} == fields
    assert event["causes"][0]["error_type"] == "urllib3.exceptions.NewConnectionError"
