import json

import pytest

from hypodisc.datasets import CorpusError, demo_pair, load_texts

pytestmark = pytest.mark.fast  # no model: `make test-fast`


def test_formats(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "one"}\n\n{"text": " two "}\n')
    (tmp_path / "b.txt").write_text("one\n  \ntwo\n")
    (tmp_path / "c.csv").write_text('text,x\none,1\n"two, with comma",2\n')
    (tmp_path / "d.json").write_text(json.dumps(["one", "two"]))
    (tmp_path / "e.json").write_text(json.dumps([{"body": "one"}, {"body": "two"}]))
    assert load_texts(tmp_path / "a.jsonl") == ["one", "two"]
    assert load_texts(tmp_path / "b.txt") == ["one", "two"]
    assert load_texts(tmp_path / "c.csv") == ["one", "two, with comma"]
    assert load_texts(tmp_path / "d.json") == ["one", "two"]
    assert load_texts(tmp_path / "e.json", field="body") == ["one", "two"]


@pytest.mark.parametrize("name,content,message", [
    ("a.jsonl", '{"text": "ok"}\n{"text": broken\n', r"a.jsonl:2: malformed JSON"),
    ("a.jsonl", '{"body": "x"}\n', r"no field 'text' \(fields: body\)"),
    ("a.jsonl", '{"text": 3}\n', "is int, not text"),
    ("a.json", '{"text": "x"}', "expected a JSON list"),
    ("a.csv", "body\nx\n", "no column 'text'"),
    ("a.txt", "\n \n", "empty"),
    ("a.parquet", "x", "unknown corpus format"),
])
def test_bad_input_names_the_problem(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(CorpusError, match=message):
        load_texts(tmp_path / name)


def test_non_utf8_names_the_byte(tmp_path):
    (tmp_path / "a.txt").write_bytes("caf\xe9 latin-1\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"not UTF-8 \(byte 3"):
        load_texts(tmp_path / "a.txt")


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        load_texts(tmp_path / "nope.txt")


def test_bundled_demo_pair():
    a, b = demo_pair()
    assert len(a) == len(b) == 40 and not set(a) & set(b)
