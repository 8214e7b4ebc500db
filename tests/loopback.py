"""A real JSON HTTP server on loopback for backend tests: the test says how to answer, this does the socket.

``respond(method, path, body)`` returns ``(status, payload, headers)``; ``body`` is the request's JSON
(None when it has none).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Respond = Callable[[str, str, object], tuple[int, object, dict]]


class LoopbackJSONServer:
    """Serves ``respond`` on 127.0.0.1 (a free port) until the ``with`` block ends; ``url`` ends in /v1."""

    def __init__(self, respond: Respond):
        class Handler(BaseHTTPRequestHandler):
            def _reply(self):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                status, payload, headers = respond(self.command, self.path, json.loads(raw) if raw else None)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _reply

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default backlog of 5 resets connections under 32 concurrent clients

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
