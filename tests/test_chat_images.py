"""Images in chat messages: the openai backend sends them as data: URLs (checked on a real loopback
server), text-only backends refuse them with one error, and text-only chats go out as before."""

import base64

import pytest
from pydantic import TypeAdapter

from hypodisc.backends.base import GenerationParams, Message
from hypodisc.backends.chat_content import has_images, image_data_url, openai_messages, text_only
from hypodisc.backends.openai_http import OpenAIBackend
from hypodisc.backends.scripted import ScriptedBackend, render
from hypodisc.errors import UnsupportedInputError

from loopback import LoopbackJSONServer

pytestmark = pytest.mark.fast  # no model: `make test-fast`

#: a real 1x1 PNG
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def image_chat(**image) -> list[Message]:
    return [{"role": "system", "content": "You describe pictures."},
            {"role": "user", "content": [{"type": "text", "text": "What is in this picture?"},
                                         {"type": "image", **image}]}]


#: what the loopback server answers every chat request with: a reply and Yes/No logprobs
REPLY = {"choices": [{"message": {"role": "assistant", "content": "a red dot"},
                      "logprobs": {"content": [{"token": "Yes", "logprob": -0.1, "top_logprobs": [
                          {"token": "Yes", "logprob": -0.1}, {"token": "No", "logprob": -2.4}]}]}}],
         "usage": {"prompt_tokens": 30, "completion_tokens": 3}}


@pytest.fixture
def served():
    bodies = []

    def respond(method, path, body):
        """Keep every request body a real OpenAI-compatible server would be sent."""
        if method == "GET":
            return 200, {"data": [{"id": "vision-model", "max_model_len": 8192}]}, {}
        bodies.append((path, body))
        return 200, REPLY, {}

    with LoopbackJSONServer(respond) as server:
        backend = OpenAIBackend(server.url, "auto", max_retries=0)
        yield backend, bodies
        backend.close()


def test_openai_backend_sends_the_image_as_a_data_url(served, tmp_path):
    backend, bodies = served
    picture = tmp_path / "dot.png"
    picture.write_bytes(PNG)
    for image in ({"data": PNG}, {"path": str(picture)}, {"url": PNG_URL}):
        [gen] = backend.generate([image_chat(**image)], GenerationParams(max_tokens=8))
        assert gen.texts == ["a red dot"]
        path, body = bodies[-1]
        assert path == "/v1/chat/completions"
        assert body["messages"] == [
            {"role": "system", "content": "You describe pictures."},
            {"role": "user", "content": [{"type": "text", "text": "What is in this picture?"},
                                         {"type": "image_url", "image_url": {"url": PNG_URL}}]}]
    assert backend.yes_no_probs([image_chat(data=PNG)]) == [pytest.approx(0.909, abs=1e-3)]
    assert bodies[-1][1]["messages"][1]["content"][1]["image_url"]["url"] == PNG_URL


def test_openai_backend_sends_text_only_chats_as_before(served):
    backend, bodies = served
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Is fire hot?"}]
    backend.generate([chat], GenerationParams(max_tokens=8))
    assert bodies[-1][1]["messages"] == chat  # string contents, untouched
    assert chat == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Is fire hot?"}]


def test_text_only_backends_refuse_images_and_name_themselves():
    backend = ScriptedBackend(judge=lambda prompt: 0.5, reply=lambda prompt, k: "ok")
    calls = (lambda p: backend.generate([p], GenerationParams()), lambda p: backend.yes_no_probs([p]),
             lambda p: backend.continuation_logprobs([p], [" ok"]))
    for call in calls:
        with pytest.raises(UnsupportedInputError) as info:
            call(image_chat(data=PNG))
        assert "scripted backend" in str(info.value) and "multimodal backend" in str(info.value)
    assert backend.usage.calls == 0  # refused before anything was counted, let alone run


def test_text_parts_read_as_the_same_text_on_text_only_backends():
    parts = [{"role": "user", "content": [{"type": "text", "text": "line one"}, {"type": "text", "text": "two"}]}]
    assert render(parts) == render([{"role": "user", "content": "line one\ntwo"}]) == "user: line one\ntwo"
    plain = [{"role": "user", "content": "hi"}]
    assert text_only(plain, "x") is plain and text_only("raw", "x") == "raw"
    assert not has_images(parts) and not has_images("raw") and has_images(image_chat(data=PNG))


def test_image_parts_are_checked():
    assert image_data_url({"type": "image", "data": b"\xff\xd8\xff\xe0rest"}).startswith("data:image/jpeg;base64,")
    assert image_data_url({"type": "image", "data": b"raw", "media_type": "image/x-test"}).startswith(
        "data:image/x-test;base64,")
    for bad, says in (({"type": "image"}, "exactly one of"), ({"type": "image", "data": PNG, "url": PNG_URL}, "exactly one"),
                      ({"type": "image", "url": "https://example.com/a.png"}, "data: URL"),
                      ({"type": "image", "data": b"not an image"}, "media_type")):
        with pytest.raises(ValueError, match=says):
            image_data_url(bad)
    with pytest.raises(ValueError, match="unknown content part type 'audio'"):
        openai_messages([{"role": "user", "content": [{"type": "audio"}]}])


def test_messages_validate_with_pydantic():
    chats = TypeAdapter(list[Message])
    assert chats.validate_python(image_chat(data=PNG))[1]["content"][1]["data"] == PNG
    with pytest.raises(Exception, match="content"):
        chats.validate_python([{"role": "user", "content": 3}])
