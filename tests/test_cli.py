"""The console script as a user runs it: help everywhere, one clear error line, no tracebacks."""

import json
import shutil

import pytest

from hypodisc.backends.model_catalog import get_spec

from conftest import HOME, free_port, run_cli

COMMANDS = [[], ["models"], ["models", "list"], ["models", "install"], ["models", "verify"], ["models", "path"],
            ["models", "convert"], ["config"], ["generate"], ["verify"], ["demo"], ["backend-check"], ["diff"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help(cmd):
    res = run_cli(*cmd, "--help")
    assert res.returncode == 0 and "Usage" in res.stdout, res.stderr


def assert_one_clear_error(res, *needles):
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: "), res.stderr
    assert len(lines) <= 2 and (len(lines) == 1 or lines[1].startswith("fix: ")), res.stderr
    for needle in needles:
        assert needle in res.stderr, res.stderr


def test_unknown_model():
    assert_one_clear_error(run_cli("generate", "hi", "--model", "gpt-7"), "unknown model 'gpt-7'", "qwen2.5-coder-1.5b")


def test_unknown_model_install():
    assert_one_clear_error(run_cli("models", "install", "gpt-7"), "unknown model")


def test_unreachable_server():
    port = free_port()
    res = run_cli("generate", "hi", "--backend", "openai", "--base-url", f"http://127.0.0.1:{port}/v1",
                  env={"HYPODISC_MAX_RETRIES": "1"})
    assert_one_clear_error(res, f"127.0.0.1:{port}", "start the server")


def test_prompt_too_long():
    res = run_cli("generate", "word " * 400, "--model", "smollm2-135m", "--n-ctx", "256")
    assert_one_clear_error(res, "context window is 256", "--n-ctx")


def test_corrupt_model_sha_mismatch(tmp_path):
    spec = get_spec("smollm2-135m")
    src = HOME / "models" / spec.name
    dst = tmp_path / "models" / spec.name
    dst.mkdir(parents=True)
    shutil.copy(src / spec.filename, dst / spec.filename)
    shutil.copy(src / "stamp.json", dst / "stamp.json")
    with open(dst / spec.filename, "r+b") as fh:
        fh.seek(4096)
        fh.write(b"\0\0\0\0")
    res = run_cli("generate", "hi", "--model", "smollm2-135m", "--home", str(tmp_path))
    assert_one_clear_error(res, "corrupt", "models install smollm2-135m --force")


def test_bad_config_value():
    assert_one_clear_error(run_cli("config", "--backend", "tensorrt"), "backend")


def test_empty_corpus(tmp_path):
    empty = tmp_path / "a.txt"
    empty.write_text("\n\n")
    other = tmp_path / "b.txt"
    other.write_text("one\ntwo\n")
    res = run_cli("verify", str(empty), str(other), "-H", "is short.", "--model", "smollm2-135m")
    assert_one_clear_error(res, "a.txt", "empty")


def test_models_list_shows_installed():
    res = run_cli("models")
    assert res.returncode == 0, res.stderr
    assert "qwen2.5-coder-1.5b (default)" in res.stdout and "smollm2-135m" in res.stdout


def test_config_reports_precedence(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('backend = "openai"\nn_ctx = 1024\n')
    res = run_cli("config", "--config", str(cfg), "--n-ctx", "512", env={"HYPODISC_MODEL": "m-env"})
    data = json.loads(res.stdout.split("\n", 1)[1])
    assert (data["backend"], data["n_ctx"], data["model"]) == ("openai", 512, "m-env")


def test_verify_writes_ranked_json(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text("\n".join(json.dumps({"body": t}) for t in ["I love my cat.", "Dogs are great pets.", "My parrot talks."]))
    b = tmp_path / "b.csv"
    b.write_text("body\nThe bond market fell.\nTaxes rose again.\nThe bank cut rates.\n")
    out = tmp_path / "r.json"
    res = run_cli("verify", str(a), str(b), "-H", "mentions an animal.", "-H", "is about money.", "--field", "body",
                  "--model", "smollm2-135m", "--json", str(out))
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert [h["n_a"] for h in data["hypotheses"]] == [3, 3] and data["usage"]["yes_no_judgments"] == 12
    vs = [h["validity"] for h in data["hypotheses"]]
    assert vs == sorted(vs, reverse=True)


def test_bad_sampling_params_are_one_line():
    res = run_cli("generate", "hi", "--model", "smollm2-135m", "--n", "3")
    assert_one_clear_error(res, "temperature")


def test_diff_on_an_empty_corpus_is_one_clear_error(tmp_path):
    empty, other = tmp_path / "empty.txt", tmp_path / "b.txt"
    empty.write_text("")
    other.write_text("\n".join(f"text {i}" for i in range(10)))
    assert_one_clear_error(run_cli("diff", str(empty), str(other), "-m", "smollm2-135m"), "empty.txt")


def test_diff_with_too_few_texts_is_one_clear_error(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one\ntwo\nthree\n")
    b.write_text("\n".join(f"text {i}" for i in range(10)))
    assert_one_clear_error(run_cli("diff", str(a), str(b), "-m", "smollm2-135m", "--verifier", "embedding"),
                           "corpus A has 3 non-empty texts")


def test_diff_writes_the_documented_json(tmp_path):
    from hypodisc.datasets import demo_pair

    a, b = demo_pair()
    pa, pb, out = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "out.json"
    pa.write_text("\n".join(json.dumps({"body": t}) for t in a[:16]))
    pb.write_text("\n".join(json.dumps({"body": t}) for t in b[:16]))
    res = run_cli("diff", str(pa), str(pb), "--field", "body", "-m", "smollm2-135m", "-H", "is about computers",
                  "-H", "mentions a company", "-H", "mentions sports", "-H", "is written in French",
                  "--top", "2", "--seed", "5", "--goal", "find topic differences", "--json", str(out))
    assert res.returncode == 0, res.stderr
    assert "AUROC" in res.stdout and "cost:" in res.stdout
    data = json.loads(out.read_text())
    assert data["seed"] == 5 and data["goal"] == "find topic differences" and data["config"]["top_k"] == 2
    for h in data["hypotheses"]:
        assert {"hypothesis", "validity", "p_value", "q_value", "ci", "auroc", "n_a", "n_b", "support",
                "counter_examples"} <= set(h)
    assert {s["stage"] for s in data["cost"]["stages"]} >= {"rank", "screen", "confirm"}
    # at most top-2 are confirmed (screening may also drop candidates confidently below zero)
    assert len(data["candidates"]) == 4 and sum(c["stage_reached"] == "confirmed" for c in data["candidates"]) <= 2
    assert len(data["hypotheses"]) == sum(c["stage_reached"] == "confirmed" for c in data["candidates"])


def test_null_check_runs_a_over_itself(tmp_path):
    from hypodisc.datasets import demo_pair

    a, _ = demo_pair()
    pa = tmp_path / "a.txt"
    pa.write_text("\n".join(t.replace("\n", " ") for t in a))
    res = run_cli("diff", str(pa), str(pa), "--null-check", "--verifier", "embedding", "-m", "smollm2-135m",
                  "-H", "is about computers", "-H", "mentions a company")
    assert res.returncode == 0, res.stderr
    assert "A/A control" in res.stdout


@pytest.mark.parametrize("args, needle", [(["--verifier", "magic"], "--verifier"), (["--top", "0"], "--top"),
                                         (["--proposer", "nope"], "--proposer")])
def test_diff_bad_options_are_one_clear_error(tmp_path, args, needle):
    a = tmp_path / "a.txt"
    a.write_text("\n".join(f"text {i}" for i in range(10)))
    assert_one_clear_error(run_cli("diff", str(a), str(a), *args), needle)


def test_serve_refuses_auth_off_off_loopback(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    res = run_cli("serve", "--no-auth", "--host", "0.0.0.0", "--db", db)
    assert res.returncode == 2 and "auth off on 0.0.0.0" in res.stderr
    res = run_cli("serve", "--host", "0.0.0.0", "--db", db, env={"HYPODISC_SERVICE_AUTH": "false"})
    assert res.returncode == 2 and "auth off" in res.stderr


def test_keys_are_created_listed_and_revoked_with_only_a_hash_stored(tmp_path):
    import sqlite3

    db = f"sqlite:///{tmp_path / 's.db'}"
    made = run_cli("keys", "create", "--name", "alice", "--db", db)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("hd_") and len(secret) > 40
    dump = "\n".join(sqlite3.connect(tmp_path / "s.db").iterdump())
    assert secret not in dump and "alice" in dump
    listed = run_cli("keys", "list", "--db", db)
    assert "alice" in listed.stdout and secret not in listed.stdout
    assert run_cli("keys", "revoke", secret[:10], "--db", db).returncode == 0
    assert "True" in run_cli("keys", "list", "--db", db).stdout
    bad = run_cli("keys", "revoke", "nope", "--db", db)
    assert bad.returncode == 2 and "no key 'nope'" in bad.stderr
