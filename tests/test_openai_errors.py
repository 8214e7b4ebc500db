"""The openai backend's failure modes, against real sockets on loopback."""

import threading
import time

import pytest

from hypodisc.backends.openai_http import OpenAIBackend
from hypodisc.errors import BackendUnavailableError

from conftest import free_port
from loopback import LoopbackJSONServer


def test_unreachable_server_names_url_and_is_bounded():
    port = free_port()  # nothing listens here
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        OpenAIBackend(f"http://127.0.0.1:{port}/v1", "auto", max_retries=2, timeout_s=2)
    assert f"127.0.0.1:{port}" in str(info.value) and "3 attempts" in str(info.value)
    assert "ConnectError" in str(info.value)
    assert time.monotonic() - t0 < 10  # 0.5 s + 1 s of back-off, bounded


class _FlakyServer(LoopbackJSONServer):
    """A real HTTP server on loopback that fails the first ``fail`` requests with ``status``."""

    def __init__(self, fail: int, status: int, body: dict, headers: dict | None = None):
        self.requests = 0
        self.times: list[float] = []
        lock = threading.Lock()

        def respond(method, path, request):
            with lock:
                self.requests += 1
                self.times.append(time.monotonic())
                failing = self.requests <= fail
            return (status, {"error": "boom"}, headers or {}) if failing else (200, body, {})

        super().__init__(respond)


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


def test_429_is_retried_after_the_servers_retry_after():
    # The default back-off would wait 0.5 s; the server asks for 2 s and gets them.
    with _FlakyServer(fail=1, status=429, body=MODELS_BODY, headers={"Retry-After": "2"}) as server:
        backend = OpenAIBackend(server.url, "auto", max_retries=3)
        assert backend.model == "m"
        assert server.requests == 2
        assert server.times[1] - server.times[0] >= 1.9


def test_429_forever_gives_up_after_bounded_retries_and_says_rate_limited():
    with _FlakyServer(fail=100, status=429, body=MODELS_BODY, headers={"Retry-After": "0"}) as server:
        with pytest.raises(BackendUnavailableError, match="HTTP 429") as info:
            OpenAIBackend(server.url, "auto", max_retries=2)
        assert server.requests == 3
        assert "rate-limiting" in info.value.fix


def test_retry_after_parses_seconds_and_http_dates():
    from email.utils import format_datetime
    from datetime import datetime, timedelta, timezone

    from hypodisc.backends.openai_http import retry_after_s

    assert retry_after_s("3") == 3.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_after_s(later) <= 30
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait


def test_usage_counts_are_exact_across_many_request_threads():
    body = {"choices": [{"message": {"content": "ok"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    from hypodisc.backends.base import GenerationParams

    with _FlakyServer(fail=0, status=500, body=body) as server:
        backend = OpenAIBackend(server.url, "named", max_retries=0, max_concurrency=32)
        try:
            out = backend.generate([[{"role": "user", "content": str(i)}] for i in range(400)],
                                   GenerationParams(max_tokens=2))
        finally:
            backend.close()
        assert len(out) == 400
        assert backend.usage.as_dict() == {"calls": 400, "prompt_tokens": 1200, "completion_tokens": 800,
                                           "yes_no_judgments": 0}


def test_usage_add_loses_no_update_under_thread_switching():
    import sys
    import threading

    from hypodisc.backends.base import Usage

    usage, n_threads, n_adds = Usage(), 8, 20_000
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: unlocked += loses updates here

    def work():
        for _ in range(n_adds):
            usage.add(calls=1, prompt_tokens=2)

    try:
        threads = [threading.Thread(target=work) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert usage.calls == n_threads * n_adds and usage.prompt_tokens == 2 * n_threads * n_adds
