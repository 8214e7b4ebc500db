"""Captioners: the chat captioner over the openai backend against a real loopback server (one PNG data URL
per request, the prompt, greedy decoding, captions in order), text-only backends refusing images, the
vllm wiring, and the llama.cpp captioner end to end on a real tiny GGUF vision-language model: SmolLM2-135M
from the local store plus a random-init LLaVA-style mmproj written here with the ``gguf`` package."""

from __future__ import annotations

import base64
import importlib.util
import io
import threading

import pytest

Image = pytest.importorskip("PIL.Image")

from hypodisc.backends.caption_models import (CAPTION_PROMPT, Captioner, ChatCaptioner, LlamaCppCaptioner,
                                              available_llamacpp_handlers, load_chat_captioner, png_bytes)
from hypodisc.backends.openai_http import OpenAIBackend
from hypodisc.backends.scripted import ScriptedBackend
from hypodisc.errors import ConfigError, HypodiscError, UnsupportedInputError

from loopback import LoopbackJSONServer

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 0, 0)]


def pictures() -> list:
    """Five images a server can tell apart by their pixels (colour) and size; one greyscale, one RGBA."""
    out = [Image.new("RGB", (8 + i, 6), c) for i, c in enumerate(COLOURS)]
    out[3] = out[3].convert("RGBA")
    out[4] = out[4].convert("L")
    return out


def describe(url: str) -> str:
    """What the loopback 'model' says about an image: decoded from the data URL it was sent."""
    assert url.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert img.format == "PNG"
    return f"  a {img.width}x{img.height} picture of {img.convert('RGB').getpixel((0, 0))}\n"


@pytest.fixture
def server():
    requests = []
    lock = threading.Lock()

    def respond(method, path, body):
        if method == "GET":
            return 200, {"data": [{"id": "tiny-vlm", "max_model_len": 4096}]}, {}
        with lock:
            requests.append((path, body))
        [message] = body["messages"]
        urls = [p["image_url"]["url"] for p in message["content"] if p["type"] == "image_url"]
        return 200, {"choices": [{"message": {"role": "assistant", "content": describe(urls[0])}}],
                     "usage": {"prompt_tokens": 40, "completion_tokens": 9}}, {}

    with LoopbackJSONServer(respond) as srv:
        yield srv, requests


def expected(images) -> list[str]:
    return [f"a {im.width}x{im.height} picture of {im.convert('RGB').getpixel((0, 0))}" for im in images]


@pytest.mark.fast
def test_openai_captioner_sends_one_png_and_the_prompt_per_image(server):
    srv, requests = server
    captioner = load_chat_captioner("openai", model=None, base_url=srv.url, max_tokens=50, max_retries=0)
    assert isinstance(captioner, Captioner) and captioner.name == "openai"
    assert captioner.backend.model == "tiny-vlm"  # "auto": the server's first model
    try:
        images = pictures()[:3]
        assert captioner.caption(images) == expected(images)
    finally:
        captioner.close()
    assert len(requests) == 3
    urls = set()
    for path, body in requests:
        assert path == "/v1/chat/completions"
        assert body["model"] == "tiny-vlm" and body["temperature"] == 0.0 and body["max_tokens"] == 50
        assert body["n"] == 1
        [message] = body["messages"]
        assert message["role"] == "user"
        text, image = message["content"]
        assert text == {"type": "text", "text": CAPTION_PROMPT}
        assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/png;base64,")
        urls.add(image["image_url"]["url"])
    assert urls == {"data:image/png;base64," + base64.b64encode(png_bytes(im)).decode() for im in images}


@pytest.mark.fast
def test_batches_keep_the_order_and_report_progress(server):
    srv, requests = server
    backend = OpenAIBackend(srv.url, "auto", max_retries=0)
    captioner = ChatCaptioner(backend, "openai", prompt="What is shown?", batch=2)
    seen = []
    try:
        images = pictures()
        captions = captioner.caption(images, progress=lambda done, total: seen.append((done, total)))
    finally:
        captioner.close()
    assert captions == expected(images)
    assert seen == [(2, 5), (4, 5), (5, 5)]  # three generate calls: 2 + 2 + 1
    assert len(requests) == 5 and {b["messages"][0]["content"][0]["text"] for _, b in requests} == {"What is shown?"}
    assert backend.usage.calls == 5 and backend.usage.completion_tokens == 45
    assert captioner.caption([]) == []


@pytest.mark.fast
def test_text_only_backends_refuse_the_images():
    backend = ScriptedBackend(judge=lambda prompt: 0.5, reply=lambda prompt, k: "a caption")
    captioner = ChatCaptioner(backend, "scripted")
    with pytest.raises(UnsupportedInputError, match="scripted backend reads text only"):
        captioner.caption(pictures()[:1])
    assert backend.usage.calls == 0


@pytest.mark.fast
def test_chat_captioner_settings_are_checked():
    backend = ScriptedBackend(judge=lambda prompt: 0.5)
    with pytest.raises(ValueError, match="batch"):
        ChatCaptioner(backend, "scripted", batch=0)
    with pytest.raises(ValueError, match="prompt"):
        ChatCaptioner(backend, "scripted", prompt="  ")
    with pytest.raises(ConfigError, match="base_url"):
        load_chat_captioner("openai", model="m", base_url=None)
    with pytest.raises(ConfigError, match="model"):
        load_chat_captioner("vllm", model=None)
    with pytest.raises(ConfigError, match="unknown chat captioner"):
        load_chat_captioner("blip", model="m")  # type: ignore[arg-type]


@pytest.mark.fast
@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed: it would load the model")
def test_vllm_captioner_says_vllm_is_missing(tmp_path):
    with pytest.raises(HypodiscError, match="vLLM is not installed"):
        load_chat_captioner("vllm", model=str(tmp_path))


# -- llama.cpp ---------------------------------------------------------------

needs_llamacpp = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                    reason="llama-cpp-python is not installed")


@pytest.mark.fast
@needs_llamacpp
def test_llamacpp_captioner_names_missing_files_and_known_handlers(tmp_path):
    model, mmproj = tmp_path / "vlm.gguf", tmp_path / "mmproj-vlm.gguf"
    with pytest.raises(HypodiscError, match="vlm.gguf"):
        LlamaCppCaptioner(str(model), str(mmproj))
    model.write_bytes(b"GGUF")
    with pytest.raises(HypodiscError, match="mmproj-vlm.gguf"):
        LlamaCppCaptioner(str(model), str(mmproj))
    mmproj.write_bytes(b"GGUF")
    known = available_llamacpp_handlers()
    assert "llava15" in known and "qwen25vl" in known and "moondream" in known
    with pytest.raises(ConfigError, match="unknown llama.cpp vision handler 'blip2'") as err:
        LlamaCppCaptioner(str(model), str(mmproj), handler="blip2")
    for name in known:
        assert name in str(err.value)
    import llama_cpp.llama_chat_format as chat_format

    for name, cls in known.items():  # every offered name builds its handler class
        handler = getattr(chat_format, cls)(clip_model_path=str(mmproj), verbose=False)
        assert handler.clip_model_path == str(mmproj)


@pytest.fixture(scope="module")
def smol_gguf(store):
    try:
        return store.resolve("smollm2-135m")
    except HypodiscError as exc:
        pytest.skip(f"SmolLM2-135M is not in the local store ({exc})")


@pytest.mark.slow
@needs_llamacpp
def test_llamacpp_captioner_loads_a_real_gguf_and_refuses_a_broken_mmproj(smol_gguf, tmp_path):
    """A real text GGUF loads under the vision handler; a projector that is not one fails on first use
    with an error naming it (no crash, no caption made up)."""
    broken = tmp_path / "mmproj-broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(range(256)) * 8)
    captioner = LlamaCppCaptioner(str(smol_gguf), str(broken), n_ctx=1024)
    try:
        assert captioner.chat_handler.clip_model_path == str(broken)
        with pytest.raises(HypodiscError, match="mmproj-broken.gguf"):
            captioner.caption(pictures()[:1])
    finally:
        captioner.close()


def write_tiny_mmproj(path, n_embd_llm: int, d: int = 32, ff: int = 64, layers: int = 2, heads: int = 2,
                      image: int = 28, patch: int = 14, scale: float = 50.0, seed: int = 0) -> None:
    """A random-init CLIP ViT + LLaVA MLP projector ("mlp") as llama.cpp's mtmd reads it. ``scale`` makes the
    projected image tokens large enough that different images steer the language model differently."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    rng = np.random.default_rng(seed)

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    ones, zeros = (lambda n: np.ones(n, np.float32)), (lambda n: np.zeros(n, np.float32))
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_string("general.name", "tiny-mmproj")
    for key, value in (("clip.has_vision_encoder", True), ("clip.has_text_encoder", False),
                       ("clip.has_llava_projector", True), ("clip.use_gelu", True)):
        w.add_bool(key, value)
    w.add_string("clip.projector_type", "mlp")
    for key, value in (("image_size", image), ("patch_size", patch), ("embedding_length", d),
                       ("feed_forward_length", ff), ("projection_dim", n_embd_llm), ("block_count", layers),
                       ("attention.head_count", heads)):
        w.add_uint32(f"clip.vision.{key}", value)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    w.add_array("clip.vision.image_mean", [0.48, 0.46, 0.41])
    w.add_array("clip.vision.image_std", [0.27, 0.26, 0.28])
    w.add_tensor("v.patch_embd.weight", rand(d, 3, patch, patch))
    w.add_tensor("v.class_embd", rand(d))
    w.add_tensor("v.position_embd.weight", rand((image // patch) ** 2 + 1, d))
    w.add_tensor("v.pre_ln.weight", ones(d))
    w.add_tensor("v.pre_ln.bias", zeros(d))
    for i in range(layers):
        for t in ("attn_q", "attn_k", "attn_v", "attn_out"):
            w.add_tensor(f"v.blk.{i}.{t}.weight", rand(d, d))
            w.add_tensor(f"v.blk.{i}.{t}.bias", zeros(d))
        for t in ("ln1", "ln2"):
            w.add_tensor(f"v.blk.{i}.{t}.weight", ones(d))
            w.add_tensor(f"v.blk.{i}.{t}.bias", zeros(d))
        w.add_tensor(f"v.blk.{i}.ffn_up.weight", rand(ff, d))
        w.add_tensor(f"v.blk.{i}.ffn_up.bias", zeros(ff))
        w.add_tensor(f"v.blk.{i}.ffn_down.weight", rand(d, ff))
        w.add_tensor(f"v.blk.{i}.ffn_down.bias", zeros(d))
    w.add_tensor("mm.0.weight", rand(n_embd_llm, d) * scale)
    w.add_tensor("mm.0.bias", zeros(n_embd_llm))
    w.add_tensor("mm.2.weight", rand(n_embd_llm, n_embd_llm) * scale)
    w.add_tensor("mm.2.bias", zeros(n_embd_llm))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.slow
@needs_llamacpp
def test_llamacpp_captioner_captions_with_a_real_tiny_vlm(smol_gguf, tmp_path):
    """SmolLM2-135M (n_embd 576) with a random projector: every image is encoded by the projector and
    read by the model (different images, different captions), greedily (the same images, the same
    captions), one caption per image in order, whatever came before."""
    import numpy as np

    mmproj = tmp_path / "mmproj-tiny.gguf"
    write_tiny_mmproj(mmproj, n_embd_llm=576)
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    images = [Image.new("RGB", (32, 32), (255, 0, 0)), noise, Image.new("RGB", (50, 20), (0, 0, 255))]
    captioner = LlamaCppCaptioner(str(smol_gguf), str(mmproj), handler="llava15", n_ctx=1024, max_tokens=10)
    seen = []
    try:
        assert isinstance(captioner, Captioner) and captioner.name == "llamacpp"
        captions = captioner.caption(images, progress=lambda done, total: seen.append((done, total)))
        assert seen == [(1, 3), (2, 3), (3, 3)]
        assert len(captions) == 3 and all(c and c == c.strip() for c in captions)
        assert len(set(captions)) == 3  # the image reaches the model
        assert captioner.caption(images[::-1]) == captions[::-1]  # no state carried between images
        assert captioner.caption(images[1:2]) == captions[1:2]
    finally:
        captioner.close()
