"""Protocol code tables, library families by MRO, and phrase families (config/rules/45-, 55-, 65-, 70-*.yaml).

Minimal events shaped as the libraries report them (type, MRO, message, and the namespaced
`code` medic_client captures: "AMQP-403", "MYSQL-1045", "WS-1006", "FTP-530", "EXIT-137"...).
Each case stands for a family of errors, not for one message: several use made-up wording or
an imaginary library to show that the family, not the text, decides.
"""

from __future__ import annotations

import pytest

from tests.unit.classification.test_rule_families import ev
from workers.classification import Classifier
from workers.classification.engine import NO_MATCH_CONFIDENCE, NO_MATCH_RULE
from workers.intake.contract import ErrorEvent

EXC = ["Exception", "BaseException"]
AMQP_CHANNEL = ["amqp.exceptions.IrrecoverableChannelError", "amqp.exceptions.ChannelError",
                "amqp.exceptions.AMQPError", *EXC]
PIKA_CHANNEL = ["pika.exceptions.ChannelClosed", "pika.exceptions.AMQPChannelError", "pika.exceptions.AMQPError", *EXC]
PIKA_CONN = ["pika.exceptions.ConnectionClosed", "pika.exceptions.AMQPConnectionError", "pika.exceptions.AMQPError",
             *EXC]
NATS = ["nats.errors.Error", *EXC]
YAML = ["yaml.error.MarkedYAMLError", "yaml.error.YAMLError", *EXC]
JWT = ["jwt.exceptions.InvalidTokenError", "jwt.exceptions.PyJWTError", *EXC]
DNS = ["dns.exception.DNSException", *EXC]
SSH = ["paramiko.ssh_exception.SSHException", *EXC]
FTP = ["ftplib.Error", *EXC]
WS_CLOSED = ["websockets.exceptions.ConnectionClosed", "websockets.exceptions.WebSocketException", *EXC]


CASES = [
    # AMQP: the code when captured, else the reply text's name, else the class.
    ("amqp_code_auth", ev("pika.exceptions.ProbableAuthenticationError", "ConnectionClosedByBroker: (403) "
                          "'ACCESS_REFUSED - Login was refused'", mro=PIKA_CONN, code="AMQP-403"), "auth"),
    ("amqp_code_vhost", ev("pika.exceptions.ProbableAccessDeniedError", "ConnectionClosedByBroker: (530) "
                           "\"NOT_ALLOWED - vhost staging not found\"", mro=PIKA_CONN, code="AMQP-530"),
     "configuration"),
    ("amqp_text_not_found", ev("pika.exceptions.ChannelClosedByBroker", "(404, \"NOT_FOUND - no exchange 'x' in "
                               "vhost '/'\")", mro=PIKA_CHANNEL), "not_found"),
    ("amqp_class_precondition", ev("amqp.exceptions.PreconditionFailed", "Queue.declare: (406) PRECONDITION_FAILED - "
                                   "inequivalent arg 'x-max-length'", mro=AMQP_CHANNEL), "configuration"),
    ("amqp_code_forced", ev("some.Client.BrokerGone", "closed", code="AMQP-320"), "unavailable"),
    ("amqp_code_locked", ev("aiormq.exceptions.ChannelLockedResource", "RESOURCE_LOCKED - cannot obtain exclusive",
                            code="AMQP-405"), "conflict"),
    ("amqp_double_ack", ev("pika.exceptions.ChannelClosedByBroker", "(406, 'PRECONDITION_FAILED - unknown delivery "
                           "tag 7')", mro=PIKA_CHANNEL, code="AMQP-406"), "internal"),
    ("amqp_kombu_wrapped", ev("kombu.exceptions.OperationalError", "(0, 0): (403) ACCESS_REFUSED - Login was refused",
                              causes=[("amqp.exceptions.AccessRefused", "(0, 0): (403) ACCESS_REFUSED")]), "auth"),
    ("amqp_stream_lost", ev("pika.exceptions.StreamLostError", "Stream connection lost: BrokenPipeError(32)",
                            mro=["pika.exceptions.AMQPConnectionError", "pika.exceptions.AMQPError", *EXC]), "network"),
    # NATS / MQTT
    ("nats_no_responders", ev("nats.errors.NoRespondersError", "nats: no responders available for request",
                              mro=NATS), "unavailable"),
    ("nats_authorization", ev("nats.errors.Error", "nats: 'Authorization Violation'", mro=EXC), "auth"),
    ("nats_permissions", ev("acme.bus.PublishFailed", "Permissions Violation for Publish to \"orders.x\""), "auth"),
    ("nats_no_servers", ev("nats.errors.NoServersError", "nats: no servers available for connection",
                           mro=NATS), "network"),
    ("nats_js_not_found", ev("nats.js.errors.NotFoundError", "nats: NotFoundError: code=404 err_code=10059",
                             mro=["nats.js.errors.APIError", *NATS], code="NATS-10059", http_status=404), "not_found"),
    ("mqtt_not_authorised", ev("acme.mqtt.ConnectFailed", "Connection Refused: not authorised."), "auth"),
    ("mqtt_broker_unavailable", ev("acme.mqtt.ConnectFailed", "Connection Refused: broker unavailable."),
     "unavailable"),
    ("mqtt_v5_code", ev("aiomqtt.exceptions.MqttCodeError", "[code:135] Not authorized",
                        mro=["aiomqtt.exceptions.MqttError", *EXC]), "auth"),
    # WebSockets: close codes
    ("ws_ping_timeout", ev("websockets.exceptions.ConnectionClosedError", "sent 1011 (internal error) keepalive ping "
                           "timeout; no close frame received", mro=WS_CLOSED, code="WS-1006"), "timeout"),
    ("ws_going_away", ev("websockets.exceptions.ConnectionClosedError", "received 1001 (going away); then sent 1001",
                         mro=WS_CLOSED, code="WS-1001"), "unavailable"),
    ("ws_abnormal", ev("websockets.exceptions.ConnectionClosedError", "no close frame received or sent",
                       mro=WS_CLOSED, code="WS-1006"), "network"),
    ("ws_policy", ev("websockets.exceptions.ConnectionClosedError", "received 1008 (policy violation) bad token",
                     mro=WS_CLOSED), "auth"),
    ("ws_handshake_403", ev("websockets.exceptions.InvalidStatus", "server rejected WebSocket connection: HTTP 403",
                            mro=["websockets.exceptions.InvalidHandshake", *EXC]), "auth"),
    # MySQL by number
    ("mysql_access", ev("pymysql.err.OperationalError", "(1045, \"Access denied for user 'app'\")",
                        code="MYSQL-1045"), "auth"),
    ("mysql_unknown_db", ev("MySQLdb.OperationalError", "(1049, \"Unknown database 'shop'\")", code="MYSQL-1049"),
     "configuration"),
    ("mysql_lock_wait", ev("mysql.connector.errors.DatabaseError", "1205 (HY000): Lock wait timeout exceeded",
                           code="MYSQL-1205"), "conflict"),
    # Files
    ("yaml_string", ev("yaml.scanner.ScannerError", "mapping values are not allowed here\n  in \"<unicode string>\", "
                       "line 1, column 7", mro=YAML), "validation"),
    ("yaml_config_file", ev("yaml.parser.ParserError", "while parsing a block mapping\n  in \"/etc/app/app.yaml\", "
                            "line 3, column 1", mro=YAML), "configuration"),
    ("configparser", ev("configparser.NoOptionError", "No option 'dsn' in section: 'db'",
                        mro=["configparser.Error", *EXC]), "configuration"),
    ("toml_loading_settings", ev("tomli.TOMLDecodeError", "Invalid value (at line 4, column 9)",
                                 mro=["ValueError", *EXC], operation="load_settings"), "configuration"),
    ("ruamel", ev("ruamel.yaml.parser.ParserError", "expected <block end>",
                  mro=["ruamel.yaml.error.MarkedYAMLError", "ruamel.yaml.error.YAMLError", *EXC]), "validation"),
    # Tokens and signatures
    ("fernet_stored_data", ev("cryptography.fernet.InvalidToken", "", mro=EXC, operation="read_record"), "data"),
    ("fernet_session_cookie", ev("cryptography.fernet.InvalidToken", "", mro=EXC, operation="load_session"), "auth"),
    ("fernet_not_base64", ev("cryptography.fernet.InvalidToken", "", mro=EXC,
                             causes=[("binascii.Error", "Incorrect padding")]), "data"),
    ("jwt_not_base64", ev("jwt.exceptions.DecodeError", "Invalid header padding", mro=JWT,
                          causes=[("binascii.Error", "Incorrect padding")]), "auth"),
    ("jwt_decode", ev("jwt.exceptions.DecodeError", "Not enough segments", mro=JWT), "auth"),
    ("jwt_expired", ev("jwt.exceptions.ExpiredSignatureError", "Signature has expired", mro=JWT), "auth"),
    ("itsdangerous", ev("itsdangerous.exc.BadSignature", "Signature b'x' does not match",
                        mro=["itsdangerous.exc.BadData", *EXC]), "auth"),
    ("unknown_token_lib", ev("acme.tokens.TokenInvalid", "signature verification failed"), "auth"),
    ("msgpack_decode", ev("acme.codec.FrameDecodeError", "truncated frame"), "data"),
    # DNS, SSH, FTP, subprocess
    ("dns_nxdomain", ev("dns.resolver.NXDOMAIN", "The DNS query name does not exist: x.example.", mro=DNS,
                        code="DNS-NXDOMAIN", operation="connect"), "configuration"),
    ("dns_nxdomain_checked", ev("dns.resolver.NXDOMAIN", "The DNS query name does not exist: x.example.", mro=DNS,
                                code="DNS-NXDOMAIN", operation="validate_signup_email"), "not_found"),
    ("dns_no_txt", ev("dns.resolver.NoAnswer", "The DNS response does not contain an answer to the question: "
                      "x.example. IN TXT", mro=DNS), "not_found"),
    ("dns_lifetime", ev("dns.resolver.LifetimeTimeout", "The resolution lifetime expired after 5.0 seconds",
                        mro=["dns.exception.Timeout", *DNS]), "timeout"),
    ("dns_no_nameservers", ev("dns.resolver.NoNameservers", "All nameservers failed to answer the query",
                              mro=DNS), "network"),
    ("ssh_auth", ev("paramiko.ssh_exception.AuthenticationException", "Authentication failed.", mro=SSH), "auth"),
    ("ssh_no_valid", ev("paramiko.ssh_exception.NoValidConnectionsError", "[Errno None] Unable to connect to port 22 "
                        "on 10.0.0.5", mro=["socket.error", "OSError", *EXC], errno="ECONNREFUSED"), "network"),
    ("ssh_host_key", ev("paramiko.ssh_exception.BadHostKeyException", "Host key for server 'h' does not match",
                        mro=SSH), "configuration"),
    ("ssh_banner", ev("paramiko.ssh_exception.SSHException", "Error reading SSH protocol banner", mro=SSH), "network"),
    ("ftp_login", ev("ftplib.error_perm", "530 Login incorrect.", mro=FTP, code="FTP-530"), "auth"),
    ("ftp_missing", ev("ftplib.error_perm", "550 /in/x.csv: No such file or directory", mro=FTP), "not_found"),
    ("ftp_denied", ev("ftplib.error_perm", "550 Permission denied.", mro=FTP, code="FTP-550"), "auth"),
    ("grpc_exists", ev("grpc._channel._InactiveRpcError", "status = StatusCode.ALREADY_EXISTS", code="ALREADY_EXISTS"),
     "conflict"),
    ("mysql_read_timed_out", ev("pymysql.err.OperationalError", "(2013, 'Lost connection during query (timed out)')",
                                code="MYSQL-2013"), "timeout"),
    ("settings_value", ev("ValueError", "invalid literal for int() with base 10: 'x'", operation="load_config"),
     "configuration"),
    ("ini_uploaded", ev("configparser.ParsingError", "Source contains parsing errors: 'upload.ini'",
                        mro=["configparser.Error", *EXC], operation="import_customers"), "validation"),
    ("ftp_closing", ev("ftplib.error_temp", "421 Timeout.", mro=FTP, code="FTP-421"), "unavailable"),
    ("exit_killed", ev("subprocess.CalledProcessError", "Command '['convert']' died with <Signals.SIGKILL: 9>.",
                       mro=["subprocess.SubprocessError", *EXC], code="SIGNAL-SIGKILL"), "resource"),
    ("exit_not_found", ev("subprocess.CalledProcessError", "Command 'x' returned non-zero exit status 127.",
                          mro=["subprocess.SubprocessError", *EXC], code="EXIT-127"), "configuration"),
    # MRO families of libraries nothing names
    ("family_access_refused", ev("acme.queue.AccessRefused", "nope"), "auth"),
    ("family_no_such_entity", ev("acme.iam.NoSuchEntityException", "The user x cannot be found."), "not_found"),
    ("family_authorization_error", ev("acme.AuthorizationError", "x", mro=EXC), "auth"),
    ("phrase_family_not_found", ev("acme.Failure", "queue 'jobs' not found on the broker"), "not_found"),
]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_files()


@pytest.mark.parametrize("event, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_family(classifier, event, expected):
    result = classifier.classify(ErrorEvent.model_validate(event))
    assert result.category == expected, f"{result.category} by {result.rule}"


def test_unknown_is_only_what_nothing_understands(classifier):
    result = classifier.classify(ErrorEvent.model_validate(ev("acme.Oops", "the frobnicator wobbled")))
    assert (result.rule, result.confidence) == (NO_MATCH_RULE, NO_MATCH_CONFIDENCE)


def test_a_failed_subprocess_without_a_known_status_says_unknown_with_no_confidence(classifier):
    event = ev("subprocess.CalledProcessError", "Command 'make' returned non-zero exit status 2.", code="EXIT-2")
    result = classifier.classify(ErrorEvent.model_validate(event))
    assert (result.category, result.confidence) == ("unknown", NO_MATCH_CONFIDENCE)


def test_code_tables_outrank_the_phrasing_of_the_message(classifier):
    # "Connection refused" (network, 500) in a message whose AMQP code says auth.
    event = ev("acme.BrokerError", "Connection refused by broker", code="AMQP-403")
    assert classifier.classify(ErrorEvent.model_validate(event)).category == "auth"
