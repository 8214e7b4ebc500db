"""Every feature input format into FeatureRecords, and every bad input refused with a message that names it.

All inputs are real files under tmp_path; the delphi cache is written with
safetensors in delphi's own on-disk layout and decoded with SmolLM2's GGUF tokenizer.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from hypodisc.datasets import corpus
from hypodisc.datasets.feature_formats import (
    DelphiOptions,
    dump_features,
    load_features,
    parse_features,
    records_to_jsonable,
)
from hypodisc.datasets.feature_records import ActivationExample, FeatureInputError, FeatureRecord

pytestmark = pytest.mark.fast  # no model: `make test-fast`

HOME = Path(os.environ.get("HYPODISC_HOME", "~/.cache/hypodisc")).expanduser()
SMOL_GGUF = HOME / "models/smollm2-135m/smollm2-135m-instruct-q4_1.gguf"
SMOL_HF = HOME / "models/smollm2-135m/hf"  # the same model's tokenizer.json folder


def write(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


# ----------------------------------------------------------------------------- simple


SIMPLE = [
    {"feature_id": 7, "examples": [{"tokens": ["The", " cat"], "activations": [0, 2.5]},
                                   {"tokens": ["A", " dog"], "activations": [0.0, 0.0]}],
     "threshold": 0.5, "top_logits": [" meow"], "bottom_logits": [" bark"]},
    {"feature_id": "doc-1", "documents": [{"text": "a cat story", "activation": 3},
                                          {"text": "a tax form", "activation": 0.0}]},
]


def test_simple_list_and_document_shorthand(tmp_path):
    token, doc = load_features(write(tmp_path / "f.json", SIMPLE))
    assert token.feature_id == "7" and token.level == "token" and token.source == "simple"
    assert token.examples[0].tokens == ("The", " cat") and token.examples[0].activations == (0.0, 2.5)
    assert token.threshold == 0.5 and token.top_logits == (" meow",) and token.bottom_logits == (" bark",)
    assert [e.text for e in token.activating()] == ["The cat"]
    assert doc.level == "document" and doc.examples[0] == ActivationExample.document("a cat story", 3.0)
    assert [e.max_activation for e in doc.examples] == [3.0, 0.0]


def test_simple_jsonl_and_dump_round_trip(tmp_path):
    records = load_features(write(tmp_path / "f.json", SIMPLE))
    out = tmp_path / "out.jsonl"
    dump_features(records, out)
    assert len(out.read_text().splitlines()) == 2
    assert load_features(out) == records
    # JSON Lines under a .json name is still read, and fmt= may be given
    write(tmp_path / "lines.json", "\n".join(json.dumps(o) for o in records_to_jsonable(records)))
    assert load_features(tmp_path / "lines.json", "simple") == records
    assert records_to_jsonable(records)[1]["examples"][0] == {"tokens": ["a cat story"], "activations": [3.0]}


def test_parse_bytes_and_max_features(tmp_path):
    raw = json.dumps(SIMPLE).encode()
    assert [r.feature_id for r in parse_features(raw, "upload.json")] == ["7", "doc-1"]
    assert [r.feature_id for r in parse_features(raw, "upload.json", max_features=1)] == ["7"]
    assert len(load_features(write(tmp_path / "f.json", SIMPLE), max_features=1)) == 1


# ----------------------------------------------------------------------------- neuronpedia


NP_DETAILS = {
    "modelId": "gpt2-small", "layer": "6-res-jb", "index": 1234,
    "examples_quantiles": [
        {"quantile_name": "Top Activations",
         "examples": [{"tokens": [" the", " Eiffel", " Tower"], "tokens_acts_list": [0, 4.5, 1.0]}]},
        {"quantile_name": "Subsample Interval 1",
         "examples": [{"tokens": [" in", " Paris"], "tokens_acts_list": [0.0, 0.75]}]},
    ],
    "top_logits": [" Tower", " tower"], "bottom_logits": [" sandwich"],
}

NP_EXPORT = {  # the API export: examples under "activations", logits as pos_str / neg_str objects
    "index": "99", "activations": [{"tokens": ["I", " like", " felines"], "values": [0, 0, 0.9]}],
    "pos_str": [{"token": " cats"}], "neg_str": [" dogs"],
}


def test_neuronpedia_feature_details(tmp_path):
    (rec,) = load_features(write(tmp_path / "np.json", NP_DETAILS))
    assert rec.feature_id == "gpt2-small/6-res-jb/1234" and rec.source == "neuronpedia"
    assert [e.max_activation for e in rec.examples] == [4.5, 0.75]
    assert rec.examples[0].tokens == (" the", " Eiffel", " Tower")
    assert rec.top_logits == (" Tower", " tower") and rec.bottom_logits == (" sandwich",)


def test_neuronpedia_api_export_and_list(tmp_path):
    recs = load_features(write(tmp_path / "np.jsonl", "\n".join(map(json.dumps, [NP_EXPORT, NP_DETAILS]))))
    assert [r.feature_id for r in recs] == ["99", "gpt2-small/6-res-jb/1234"]
    assert recs[0].examples[0].activations == (0.0, 0.0, 0.9)
    assert recs[0].top_logits == (" cats",) and recs[0].bottom_logits == (" dogs",)


# ----------------------------------------------------------------------------- openai


def activation_record(tokens, acts):
    return {"dataclass_name": "ActivationRecord", "tokens": tokens, "activations": acts}


NEURON = {
    "dataclass_name": "NeuronRecord",
    "neuron_id": {"dataclass_name": "NeuronId", "layer_index": 5, "neuron_index": 131},
    "random_sample": [activation_record(["x", "y"], [-0.17, 0.02])],
    "random_sample_by_quantile": [[activation_record(["a"], [0.1])], [activation_record(["b", "c"], [0.3, 1.2])]],
    "quantile_boundaries": [0.0, 0.5, 1.0],
    "mean": float("nan"), "variance": 0.1, "skewness": 1.0, "kurtosis": 3.0,
    "most_positive_activation_records": [activation_record([" Mon", "day"], [3.5, -0.04])],
}


def test_openai_neuron_record(tmp_path):
    # the neuron explainer writes its unset moments as NaN: they are not activations, so they load
    (rec,) = load_features(write(tmp_path / "neuron.json", NEURON))
    assert rec.feature_id == "5/131" and rec.source == "openai" and rec.threshold == 0.0
    assert len(rec.examples) == 4 and rec.examples[0].activations == (3.5, -0.04)
    assert min(a for e in rec.examples for a in e.activations) == -0.17  # raw, negatives kept
    assert [e.text for e in rec.activating()] == [" Monday", "a", "bc", "xy"]


def test_openai_list_and_jsonl(tmp_path):
    other = {**NEURON, "neuron_id": {"layer_index": 0, "neuron_index": 2}}
    a = load_features(write(tmp_path / "n.json", [NEURON, other]))
    b = load_features(write(tmp_path / "n.jsonl", json.dumps(NEURON) + "\n\n" + json.dumps(other) + "\n"))
    assert a == b and [r.feature_id for r in a] == ["5/131", "0/2"]


# ----------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize("name,content,message", [
    ("f.json", '[{"feature_id": 1,\n  "examples": [}]', r"f\.json: malformed JSON at line 2, column 16"),
    ("f.jsonl", json.dumps(SIMPLE[0]) + '\n{"feature_id": 2, oops}\n',
     r"f\.jsonl: malformed JSON at line 2, column 19"),
    ("f.json", "[]", r"f\.json: no features in the file"),
    ("f.jsonl", "\n  \n", r"f\.jsonl: the file is empty"),
    ("f.json", '[{"feature_id": "a", "examples": []}]', r"record 0 \(feature_id 'a'\): examples: is empty"),
    ("f.json", [SIMPLE[0], {"feature_id": "b", "examples": [{"tokens": ["x", "y"], "activations": [1, 2, 3]}]}],
     r"f\.json: record 1 \(feature_id 'b'\): examples\[0\]: 2 tokens but 3 activations"),
    ("f.jsonl", '{"feature_id": "n", "examples": [{"tokens": ["x", "y"], "activations": [1, NaN]}]}',
     r"record 0 \(line 1, feature_id 'n'\): examples\[0\]\.activations\[1\]: nan is not a finite number"),
    ("f.json", [{"feature_id": "t", "examples": [{"tokens": [1, 2], "activations": [1, 2]}]}],
     r"feature_id 't'\): examples\[0\]\.tokens\[0\]: Input should be a valid string"),
    ("f.json", [{"feature_id": "d", "documents": [{"text": "x"}]}], r"documents\[0\]: no 'activation' field"),
    ("f.json", [{"examples": [{"tokens": ["x"], "activations": [1]}]}], r"record 0: feature_id: missing"),
    ("f.json", [SIMPLE[0], SIMPLE[1], {**SIMPLE[0], "threshold": 0.0}],
     r"f\.json: feature_id '7' appears twice \(records 0 and 2\)"),
    ("f.json", [{"name": "x"}], r"record 0: cannot tell the format from its fields \(name\)"),
    ("f.json", '"just text"', r"expected a feature object or a list of them, got text"),
    ("n.json", {k: v for k, v in NEURON.items() if k != "neuron_id"}, r"n\.json: record 0: neuron_id: missing"),
    ("n.json", {**NEURON, "neuron_id": {"layer_index": 5}}, r"record 0: neuron_id\.neuron_index: missing"),
    ("n.json", {"neuron_id": {"layer_index": 1, "neuron_index": 2}},
     r"record 0 \(feature_id '1/2'\): no activation records: most_positive_activation_records, "
     r"random_sample_by_quantile, random_sample are all missing or empty"),
    ("n.json", {**NEURON, "random_sample": [{"tokens": ["x"]}]},
     r"feature_id '5/131'\): random_sample\[0\]: no 'activations' field"),
    ("np.json", {**NP_DETAILS, "examples_quantiles": [{"quantile_name": "q", "examples": [
        {"tokens": ["a", "b"], "tokens_acts_list": [1.0]}]}]},
     r"feature_id 'gpt2-small/6-res-jb/1234'\): examples_quantiles\[0\]\.examples\[0\]: 2 tokens but 1 activations"),
    ("np.json", {"modelId": "m", "examples_quantiles": []}, r"np\.json: record 0: index: missing"),
])
def test_bad_input_names_file_record_and_field(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(FeatureInputError, match=message):
        load_features(path)


def test_non_utf8_names_the_byte(tmp_path):
    (tmp_path / "f.json").write_bytes('[{"feature_id": "caf\xe9"}]'.encode("latin-1"))
    with pytest.raises(FeatureInputError, match=r"f\.json: not UTF-8 \(byte 20: b'\\xe9'\)"):
        load_features(tmp_path / "f.json")


def test_oversized_file_refused_before_reading(tmp_path, monkeypatch):
    path = write(tmp_path / "f.json", SIMPLE)
    monkeypatch.setattr(corpus, "MAX_FILE_BYTES", 64)
    with pytest.raises(FeatureInputError, match=r"f\.json: .* MiB is over the .* MiB limit"):
        load_features(path)
    with pytest.raises(FeatureInputError, match="over the"):
        parse_features(path.read_bytes(), "upload.json")


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(FeatureInputError, match="unknown feature format 'csv'"):
        load_features(write(tmp_path / "f.json", SIMPLE), "csv")  # type: ignore[arg-type]
    with pytest.raises(FeatureInputError, match="no such file or folder"):
        load_features(tmp_path / "nope.json")
    with pytest.raises(FeatureInputError, match="a delphi cache is a folder"):
        parse_features(b"{}", "0_9.safetensors")


def test_dump_failing_midway_keeps_the_old_file(tmp_path):
    path = tmp_path / "features.jsonl"
    good = load_features(write(tmp_path / "f.json", SIMPLE))
    dump_features(good, path)
    before = path.read_bytes()
    # a record built without validation, holding a NaN, cannot be serialised: it comes after a good one
    nan = FeatureRecord.model_construct(
        feature_id="bad", examples=(ActivationExample.model_construct(tokens=("x",), activations=(math.nan,)),),
        level="token", threshold=0.0, top_logits=(), bottom_logits=(), source="simple")
    with pytest.raises(FeatureInputError, match=r"features\.jsonl: record 1 \(feature_id 'bad'\): cannot be written"):
        dump_features([good[0], nan], path)
    with pytest.raises(FeatureInputError, match="record 1: expected a FeatureRecord, got dict"):
        dump_features([good[0], {"feature_id": "x"}], path)  # type: ignore[list-item]
    with pytest.raises(FeatureInputError, match=r"record 1 \(feature_id '7'\): the same feature_id as record 0"):
        dump_features([good[0], good[0]], path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "features.jsonl"]  # no temp files left


# ----------------------------------------------------------------------------- delphi

# SmolLM2 token ids and their text, from its tokenizer (hand-checked).
VOCAB = {19556: "Hello", 905: " world", 28: ",", 260: " the", 2644: " cat", 2643: " sat", 335: " on",
         1171: " mat", 30: ".", 330: " A", 2767: " dog", 7674: " ran", 288: " to", 5949: " park", 284: " and",
         1056: " back", 1478: " home", 7042: " Paris", 314: " is", 3575: " capital", 282: " of", 4649: " France",
         1834: " today", 1963: " One", 827: " two", 1296: " three", 1876: " four", 2531: " five", 2976: " six",
         4962: " seven", 4475: " eight"}
S1 = [19556, 905, 28, 260, 2644, 2643, 335, 260, 1171, 30]   # Hello world, the cat sat on the mat.
S2 = [330, 2767, 7674, 288, 260, 5949, 284, 1056, 1478, 30]  # A dog ran to the park and back home.
S3 = [7042, 314, 260, 3575, 282, 4649, 1834, 30]             # Paris is the capital of France today.
S4 = [1963, 827, 1296, 1876, 2531, 2976, 4962, 4475, 30]     # One two three four five six seven eight.
TOKENS = np.array([S1 + S3[:6], S2 + S4[:6], S3 + S4[:8], S4 + S1[:7]], dtype=np.int64)  # 4 sequences x 16
HOOK = "layers.5.mlp"


def vocab_tokenizer(ids: list[int]) -> list[str]:
    return [VOCAB[i] for i in ids]


def text(seq: int, lo: int, hi: int) -> str:
    return "".join(VOCAB[int(i)] for i in TOKENS[seq, lo:hi])


def save_split(folder: Path, start: int, end: int, rows: list[tuple[int, int, int, float]], tokens=True) -> None:
    """One split as delphi's LatentCache.save_splits writes it: offsets from ``start``, uint16, float16."""
    loc = np.array([(s, p, latent - start) for s, p, latent, _ in rows], dtype=np.uint16).reshape(-1, 3)
    data = {"locations": loc, "activations": np.array([a for *_, a in rows], dtype=np.float16)}
    if tokens:
        data["tokens"] = TOKENS
    save_file(data, str(folder / f"{start}_{end}.safetensors"))


def delphi_cache(root: Path, tokens: bool = True) -> Path:
    """results/<run>/latents/<hookpoint>/{0_1,2_3}.safetensors + config.json, like delphi's populate_cache."""
    folder = root / "run" / "latents" / HOOK
    folder.mkdir(parents=True)
    # (sequence, position, latent, activation); latent 3 fires on " cat" (seq 0) and " capital" (seq 2)
    save_split(folder, 0, 1, [(1, 2, 0, 1.5), (3, 15, 0, 0.5)], tokens)
    save_split(folder, 2, 3, [(0, 4, 3, 2.5), (2, 3, 3, 1.25), (0, 5, 3, 0.5), (2, 10, 2, 4.0)], tokens)
    (folder / "config.json").write_text(json.dumps({
        "dataset_repo": "EleutherAI/SmolLM2-135M-10B", "dataset_split": "train[:1%]", "dataset_name": "",
        "dataset_column": "text", "batch_size": 4, "cache_ctx_len": 16, "n_tokens": 64, "n_splits": 2,
        "model_name": "HuggingFaceTB/SmolLM2-135M"}))
    return root / "run"


OPTS = DelphiOptions(example_ctx_len=8, n_non_activating=3)


def test_delphi_cache_windows_and_negatives(tmp_path):
    recs = load_features(delphi_cache(tmp_path), tokenizer=vocab_tokenizer, delphi_options=OPTS)
    assert [r.feature_id for r in recs] == [f"{HOOK}/0", f"{HOOK}/2", f"{HOOK}/3"]
    cat = recs[2]
    assert cat.source == "delphi" and cat.level == "token" and cat.threshold == 0.0
    first, second = cat.activating()  # strongest first, one aligned 8-token window each
    assert first.text == text(0, 0, 8) == "Hello world, the cat sat on the"
    assert first.tokens[4] == " cat" and first.activations == (0, 0, 0, 0, 2.5, 0.5, 0, 0)
    assert second.text == text(2, 0, 8) and second.activations[3] == 1.25 and second.max_activation == 1.25
    negatives = cat.non_activating()
    assert len(negatives) == 3 and all(set(e.activations) == {0.0} for e in negatives)
    silent = {text(s, lo, lo + 8) for s in (1, 3) for lo in (0, 8)}  # sequences where latent 3 never fires
    assert {e.text for e in negatives} <= silent
    # the last position of a sequence lands in its last window
    assert recs[0].activating()[1].text == text(3, 8, 16) and recs[0].activating()[1].activations[-1] == 0.5


def test_delphi_same_records_from_every_layout_level(tmp_path):
    run = delphi_cache(tmp_path)
    whole = load_features(run, tokenizer=vocab_tokenizer, delphi_options=OPTS)
    assert load_features(run / "latents", tokenizer=vocab_tokenizer, delphi_options=OPTS) == whole
    assert load_features(run / "latents" / HOOK, "delphi", tokenizer=vocab_tokenizer, delphi_options=OPTS) == whole
    one_split = load_features(run / "latents" / HOOK / "2_3.safetensors", tokenizer=vocab_tokenizer,
                              delphi_options=OPTS)
    assert one_split == whole[1:]
    assert load_features(run, tokenizer=vocab_tokenizer, max_features=1, delphi_options=OPTS) == whole[:1]
    # dumped to the simple format and read back unchanged
    dump_features(whole, tmp_path / "delphi.jsonl")
    assert load_features(tmp_path / "delphi.jsonl") == whole


@pytest.mark.skipif(not SMOL_GGUF.is_file(), reason=f"{SMOL_GGUF} not installed (make test installs it)")
def test_delphi_decoded_with_the_smollm2_gguf_tokenizer(tmp_path):
    run = delphi_cache(tmp_path)
    recs = load_features(run, tokenizer=SMOL_GGUF, delphi_options=OPTS)
    assert recs[2].activating()[0].tokens == ("Hello", " world", ",", " the", " cat", " sat", " on", " the")
    assert recs == load_features(run, tokenizer=vocab_tokenizer, delphi_options=OPTS)
    if (SMOL_HF / "tokenizer.json").is_file():  # a local tokenizer folder decodes the same
        assert load_features(run, tokenizer=str(SMOL_HF), delphi_options=OPTS) == recs


def test_delphi_errors_name_the_problem(tmp_path):
    no_tokens = delphi_cache(tmp_path / "a", tokens=False)
    with pytest.raises(FeatureInputError, match=rf"{HOOK}: no split holds the 'tokens' array"):
        load_features(no_tokens, tokenizer=vocab_tokenizer)
    run = delphi_cache(tmp_path / "b")
    with pytest.raises(FeatureInputError, match=r"needs the model's tokenizer \(HuggingFaceTB/SmolLM2-135M\)"):
        load_features(run)
    with pytest.raises(FeatureInputError, match=r"tokenizer .*nope: no such file or folder"):
        load_features(run, tokenizer=tmp_path / "nope")
    with pytest.raises(FeatureInputError, match=r"the tokenizer returned 1 items for 8 token ids"):
        load_features(run, tokenizer=lambda ids: ["x"], delphi_options=OPTS)
    with pytest.raises(FeatureInputError, match="no delphi cache here"):
        load_features(tmp_path, "delphi", tokenizer=vocab_tokenizer)


def test_delphi_bad_split_contents(tmp_path):
    folder = tmp_path / "latents" / HOOK
    folder.mkdir(parents=True)
    save_split(folder, 0, 1, [(9, 0, 0, 1.0)])  # sequence 9 of 4
    with pytest.raises(FeatureInputError, match=rf"0_1\.safetensors: entry 0 \(feature_id '{HOOK}/0'\): "
                                                r"locations: sequence index 9 is outside 0\.\.3"):
        load_features(tmp_path, tokenizer=vocab_tokenizer)
    save_split(folder, 0, 1, [(0, 0, 1, float("nan"))])
    with pytest.raises(FeatureInputError, match=rf"feature_id '{HOOK}/1'\): activations: nan is not a finite"):
        load_features(tmp_path, tokenizer=vocab_tokenizer)
    (folder / "0_1.safetensors").rename(folder / "latents.safetensors")
    with pytest.raises(FeatureInputError, match=r"latents\.safetensors: not named <start>_<end>\.safetensors"):
        load_features(tmp_path, tokenizer=vocab_tokenizer)
