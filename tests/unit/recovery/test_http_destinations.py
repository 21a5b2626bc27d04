"""Where an HTTP replay may go: the allowlist's syntax, the destination policy (pure), credentials by origin."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from config.errors import ConfigError
from config.replay_http import credential_origin, is_connection_header, parse_allow_entry
from config.settings import load_settings
from workers.recovery.destinations import (
    DestinationRefused,
    admitted,
    checked_address,
    destination_of,
    is_public,
)


def entries(*texts: str):
    return [parse_allow_entry(text) for text in texts]


def ips(*texts: str):
    return [ipaddress.ip_address(text) for text in texts]


def decide(url: str, addresses: list[str], allow: list[str], method: str = "POST"):
    """The whole policy: (url, resolved addresses, allowlist) -> the address connected to."""
    destination = destination_of(httpx.URL(url))
    admitted(destination, method, entries(*allow))
    return checked_address(destination, ips(*addresses), entries(*allow))


# --- the allowlist's syntax


@pytest.mark.parametrize(("text", "scheme", "host", "port", "methods"), [
    ("https://*.partner.com:443", "https", "*.partner.com", 443, {"GET", "HEAD", "POST"}),
    ("https://API.Partner.com", "https", "api.partner.com", 443, {"GET", "HEAD", "POST"}),
    ("http://127.0.0.1:8080", "http", "127.0.0.1", 8080, {"GET", "HEAD", "POST"}),
    ("http://[::1]:8080", "http", "::1", 8080, {"GET", "HEAD", "POST"}),
    ("put,DELETE http://10.0.0.5", "http", "10.0.0.5", 80, {"PUT", "DELETE"}),
])
def test_entries_are_parsed(text, scheme, host, port, methods):
    entry = parse_allow_entry(text)
    assert (entry.scheme, entry.host, entry.port, set(entry.methods)) == (scheme, host, port, methods)


@pytest.mark.parametrize("text", [
    "*", "https://*", "https://*:443", "https://api.*.com", "https://*partner.com", "ftp://h", "h:443",
    "https://h/path", "https://u@h", "https://h?x", "https://h:99999", "https://2130706433", "https://127.1",
    "https://0x7f.0.0.1", "https://*.127.0.0.1", "GRAB https://h", "https://[nothex]",
])
def test_malformed_entries_fail_at_startup_naming_the_setting(text):
    with pytest.raises(ConfigError, match="MEDIC_REPLAY_HTTP__ALLOW"):
        load_settings(replay_http={"allow": [text]})


def test_the_allowlist_is_empty_by_default():
    assert load_settings().replay_http.entries == ()


# --- the allowlist decides the destination


def test_nothing_is_allowed_by_an_empty_allowlist():
    with pytest.raises(DestinationRefused,
                       match=r"destination http://127.0.0.1:8080 is not in MEDIC_REPLAY_HTTP__ALLOW"):
        decide("http://127.0.0.1:8080/latest/meta-data/", ["127.0.0.1"], [])


@pytest.mark.parametrize("url", [
    "http://api.partner.com/x",  # another scheme
    "https://api.partner.com:8443/x",  # another port
    "https://partner.com/x",  # the glob needs a label in front
    "https://api.partner.com.evil.com/x",
    "https://evilpartner.com/x",
])
def test_scheme_host_and_port_must_all_match(url):
    with pytest.raises(DestinationRefused, match="is not in MEDIC_REPLAY_HTTP__ALLOW"):
        decide(url, ["93.184.216.34"], ["https://*.partner.com:443"])


def test_a_glob_allows_names_under_it_on_public_addresses():
    assert decide("https://a.b.partner.com/x", ["93.184.216.34"], ["https://*.partner.com"]) == ips("93.184.216.34")[0]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_put_patch_and_delete_must_be_listed(method):
    with pytest.raises(DestinationRefused, match=f"method {method}"):
        decide("https://api.partner.com/x", ["93.184.216.34"], ["https://api.partner.com"], method=method)
    assert decide("https://api.partner.com/x", ["93.184.216.34"], [f"GET,{method} https://api.partner.com"],
                  method=method)


@pytest.mark.parametrize("url", [
    "http://2130706433:8080/", "http://0x7f.1:8080/", "http://017700000001:8080/", "http://127.1:8080/",
    "http://0x7f000001:8080/",  # (127.000.000.001 is refused by httpx itself: InvalidURL)
])
def test_numeric_hosts_other_than_the_canonical_address_are_refused(url):
    with pytest.raises(DestinationRefused, match="not a canonical IP address"):
        decide(url, ["127.0.0.1"], ["http://127.0.0.1:8080"])


# --- the addresses connected to


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "fec0::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:8.8.8.8", "::7f00:1", "2002:7f00:1::1", "2001:0:4136:e378::1", "64:ff9b::7f00:1",
])
def test_non_public_addresses_are_not_reached_through_a_name(address):
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(DestinationRefused, match="resolves to"):
        decide("https://api.partner.com/x", [address], ["https://*.partner.com", "https://api.partner.com"])


def test_every_resolved_address_is_checked_not_only_the_first():
    with pytest.raises(DestinationRefused, match="127.0.0.1, a loopback address"):
        decide("https://api.partner.com/x", ["93.184.216.34", "127.0.0.1"], ["https://api.partner.com"])


def test_an_entry_naming_the_exact_address_allows_it():
    assert decide("http://127.0.0.1:8080/x", ["127.0.0.1"], ["http://127.0.0.1:8080"]) == ips("127.0.0.1")[0]
    assert decide("http://[::1]:8080/x", ["::1"], ["http://[::1]:8080"]) == ips("::1")[0]
    # an internal name: the name is allowed, and so is the address it resolves to
    assert decide("http://orders.internal:8080/x", ["10.0.0.5"],
                  ["http://orders.internal:8080", "http://10.0.0.5:8080"]) == ips("10.0.0.5")[0]


def test_an_address_entry_allows_only_its_own_scheme_and_port():
    with pytest.raises(DestinationRefused, match="resolves to 10.0.0.5"):
        decide("http://orders.internal:8080/x", ["10.0.0.5"], ["http://orders.internal:8080", "http://10.0.0.5:9090"])


@pytest.mark.parametrize("url", ["http://[::ffff:127.0.0.1]:8080/", "http://[::ffff:7f00:1]:8080/"])
def test_a_mapped_address_is_not_the_address_it_maps(url):
    with pytest.raises(DestinationRefused, match="is not in MEDIC_REPLAY_HTTP__ALLOW"):
        decide(url, ["::ffff:127.0.0.1"], ["http://127.0.0.1:8080"])


def test_a_glob_never_matches_an_ip_address():
    entry = parse_allow_entry("https://*.partner.com")
    assert not entry.matches_host("1.2.3.4") and not entry.matches_host("::1")
    assert entry.matches_host("a.partner.com")


# --- credentials by origin, and headers an event may not set


@pytest.mark.parametrize(("key", "origin"), [
    ("api.partner.com", "https://api.partner.com:443"),
    ("api.partner.com:8443", "https://api.partner.com:8443"),
    ("https://API.partner.com", "https://api.partner.com:443"),
    ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
])
def test_credential_keys_name_one_origin_https_unless_http_is_said(key, origin):
    assert credential_origin(key) == origin
    assert list(load_settings(replay_http_headers={key: {"Authorization": "Bearer x"}}).replay_http_headers) == [origin]


@pytest.mark.parametrize("key", ["*.partner.com", "https://*.partner.com", "ftp://h", "https://h/path", "POST https://h"])
def test_credential_keys_that_are_not_one_origin_fail_at_startup(key):
    with pytest.raises(ConfigError, match="MEDIC_REPLAY_HTTP_HEADERS"):
        load_settings(replay_http_headers={key: {"Authorization": "Bearer x"}})


def test_two_keys_for_one_origin_fail_at_startup():
    with pytest.raises(ConfigError, match="a second time"):
        load_settings(replay_http_headers={"api.partner.com": {"A": "1"}, "https://api.partner.com:443": {"B": "2"}})


def test_operator_headers_may_not_frame_the_request():
    with pytest.raises(ConfigError, match="Host"):
        load_settings(replay_http_headers={"api.partner.com": {"Host": "other"}})


@pytest.mark.parametrize("name", ["Host", "content-length", "Transfer-Encoding", "Connection", "Keep-Alive",
                                  "Proxy-Authorization", "TE", "Trailer", "Upgrade"])
def test_connection_headers(name):
    assert is_connection_header(name)


@pytest.mark.parametrize("name", ["Authorization", "Content-Type", "X-Host", "Accept"])
def test_ordinary_headers(name):
    assert not is_connection_header(name)


# --- what is stored of a sent request's headers


def test_sent_header_values_are_removed_as_sent_and_as_json_escapes_them():
    from workers.recovery.http_replay import without_values

    secret = 'Bearer a/b"c'
    echoed = '{"authorization": "Bearer a/b\\"c", "x": "Bearer a\\/b\\"c", "k": "v"}'
    text = without_values(echoed, [secret, "v"])  # "v" is too short to search for
    assert "a/b" not in text and "a\\/b" not in text and '"k": "v"' in text
