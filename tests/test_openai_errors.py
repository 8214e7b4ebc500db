"""The openai backend's failure modes, against real sockets on loopback."""

import time

import pytest

from hypodisc.backends.openai_http import OpenAIBackend
from hypodisc.errors import BackendUnavailableError

from conftest import free_port


def test_unreachable_server_names_url_and_is_bounded():
    port = free_port()  # nothing listens here
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        OpenAIBackend(f"http://127.0.0.1:{port}/v1", "auto", max_retries=2, timeout_s=2)
    assert f"127.0.0.1:{port}" in str(info.value) and "3 attempts" in str(info.value)
    assert "ConnectError" in str(info.value)
    assert time.monotonic() - t0 < 10  # 0.5 s + 1 s of back-off, bounded


class _FlakyServer:
    """A real HTTP server on loopback that fails the first ``fail`` requests with ``status``."""

    def __init__(self, fail: int, status: int, body: dict):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        outer = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def _reply(self):
                outer.requests += 1
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                code, payload = (status, {"error": "boom"}) if outer.requests <= fail else (200, body)
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _reply

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


MODELS_BODY = {"data": [{"id": "m", "max_model_len": 1234}]}


def test_5xx_is_retried_then_succeeds():
    with _FlakyServer(fail=2, status=503, body=MODELS_BODY) as server:
        backend = OpenAIBackend(server.url, "auto", max_retries=3)
        assert backend.model == "m" and backend.context_length == 1234
        assert server.requests == 3  # 2 failures, then one /models for both model and context length


def test_5xx_gives_up_after_bounded_retries():
    with _FlakyServer(fail=100, status=500, body=MODELS_BODY) as server:
        with pytest.raises(BackendUnavailableError, match="HTTP 500"):
            OpenAIBackend(server.url, "auto", max_retries=1)
        assert server.requests == 2


def test_4xx_is_not_retried_and_says_what_the_server_said():
    from hypodisc.backends.base import GenerationParams
    from hypodisc.errors import BackendResponseError

    with _FlakyServer(fail=100, status=404, body=MODELS_BODY) as server:
        with pytest.raises(BackendResponseError, match="lists no models"):
            OpenAIBackend(server.url, "auto", max_retries=3)
        assert server.requests == 1
        backend = OpenAIBackend(server.url, "named", max_retries=3)  # no /models needed
        with pytest.raises(BackendResponseError, match="HTTP 404"):
            backend.generate(["hi"], GenerationParams(max_tokens=1))
        assert server.requests == 3
