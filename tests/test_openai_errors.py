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
