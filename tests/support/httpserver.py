"""A scripted local HTTP server for the recovery tests: the partner API that medic replays against.

Each path has a script, a list of responses served in order; the last one repeats once the
others are used up (a path without a script answers 404). The server records every request:
when it came (time.time()), its method, headers, body and the `Idempotency-Key` header. A
"side effect" is a 2xx answer for an Idempotency-Key that had no 2xx before: a retry of a
request that already succeeded does not happen twice (requests without a key count each time).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON-encoded when not bytes/str
    delay_s: float = 0.0  # wait this long before answering


def respond(status: int = 200, headers: dict[str, str] | None = None, body: Any = None,
            delay_s: float = 0.0) -> Response:
    return Response(status, dict(headers or {}), body, delay_s)


@dataclass(frozen=True)
class Request:
    path: str
    method: str
    at: float
    headers: dict[str, str]
    body: bytes
    status: int  # what the server answered

    @property
    def idempotency_key(self) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == "idempotency-key"), None)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a delayed response on purpose is not an error of the server.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class ScriptedHTTPServer:
    def __init__(self, host: str = "127.0.0.1"):
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Response]] = {}
        self._requests: list[Request] = []
        self._succeeded_keys: dict[str, set[str]] = {}
        self._effects: dict[str, int] = {}
        handler = self._handler_class()
        self.server = _Server((host, 0), handler)
        self.host, self.port = self.server.server_address[:2]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # --- scripting --------------------------------------------------------------------------------

    def script(self, path: str, *responses: Response | int) -> None:
        """Serve these responses on `path` from now on, in order; the last one repeats."""
        if not responses:
            raise ValueError("a script needs at least one response")
        with self._lock:
            self._scripts[path] = [r if isinstance(r, Response) else respond(r) for r in responses]

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    # --- what the tests read ----------------------------------------------------------------------

    def requests(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def calls(self, path: str) -> int:
        return len(self.requests(path))

    def times(self, path: str) -> list[float]:
        return [r.at for r in self.requests(path)]

    def idempotency_keys(self, path: str) -> list[str | None]:
        return [r.idempotency_key for r in self.requests(path)]

    def effects(self, path: str) -> int:
        """2xx answers, counting each Idempotency-Key once."""
        with self._lock:
            return self._effects.get(path, 0)

    def successes(self, path: str) -> int:
        """Every 2xx answer, duplicates included."""
        return sum(1 for r in self.requests(path) if 200 <= r.status < 300)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- serving ----------------------------------------------------------------------------------

    def _next_response(self, path: str) -> Response:
        with self._lock:
            script = self._scripts.get(path)
            if not script:
                return respond(404, body={"error": f"no script for {path}"})
            return script.pop(0) if len(script) > 1 else script[0]

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)
            if not 200 <= request.status < 300:
                return
            key = request.idempotency_key
            seen = self._succeeded_keys.setdefault(request.path, set())
            if key is None or key not in seen:
                self._effects[request.path] = self._effects.get(request.path, 0) + 1
            if key is not None:
                seen.add(key)

    def _handler_class(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                at = time.time()
                path = self.path.split("?", 1)[0]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                response = owner._next_response(path)
                if response.delay_s:
                    time.sleep(response.delay_s)
                # Recorded before answering: a client that has its answer finds the request counted.
                owner._record(Request(path, self.command, at, dict(self.headers.items()), body, response.status))
                payload = response.body
                if payload is None:
                    payload = {"status": response.status}
                if not isinstance(payload, (bytes, str)):
                    payload = json.dumps(payload)
                data = payload.encode() if isinstance(payload, str) else payload
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        return Handler
