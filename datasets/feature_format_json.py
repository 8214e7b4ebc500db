"""The JSON / JSON Lines feature formats, converted into :class:`FeatureRecord`\\ s.

* ``simple`` - FeatureRecord's own JSON (a list, JSON Lines, or one object), plus
  the document shorthand ``{"feature_id", "documents": [{"text", "activation"}]}``.
* ``neuronpedia`` - a feature's details (``index``, ``examples_quantiles``) or the
  API export (``activations: [{tokens, values}]``).
* ``openai`` - neuron-explainer ``NeuronRecord`` JSON (``neuron_id``, ``random_sample``, ...).

Split out of ``feature_formats`` (which detects the format and dispatches) so the
text formats, which carry their token text, live apart from the delphi cache reader.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from hypodisc.datasets.corpus import jsonl_objects
from hypodisc.datasets.feature_format_errors import _kind, _pydantic_problem, _record, _Where
from hypodisc.datasets.feature_records import ActivationExample, FeatureInputError, FeatureRecord

_JSON_FIX = "fix the JSON (a list of feature objects, or one object per line for .jsonl)"


# ----------------------------------------------------------------------------- shared by the converters


def _list(value: object, where: _Where, field: str) -> list:
    if not isinstance(value, list):
        raise where.error(field, f"expected a list, got {_kind(value)}")
    return value


def _example(obj: object, where: _Where, field: str, act_keys: tuple[str, ...]) -> ActivationExample:
    """One token-level example; ``act_keys`` are the names the format uses for the activations."""
    if not isinstance(obj, dict):
        raise where.error(field, f"expected an object with 'tokens' and {act_keys[0]!r}, got {_kind(obj)}")
    key = next((k for k in act_keys if k in obj), None)
    if "tokens" not in obj or key is None:
        missing = "tokens" if "tokens" not in obj else act_keys[0]
        raise where.error(field, f"no {missing!r} field (fields: {', '.join(obj) or 'none'})")
    acts = obj[key]
    for j, a in enumerate(acts if isinstance(acts, list) else ()):
        if isinstance(a, bool) or (isinstance(a, float) and not math.isfinite(a)):
            raise where.error(f"{field}.{key}[{j}]", f"{a} is not a finite number",
                              fix="every activation must be a real number (no NaN, Infinity or true/false)")
    try:
        return ActivationExample(tokens=obj["tokens"], activations=acts)
    except ValidationError as exc:
        path, msg = _pydantic_problem(exc, field, {"activations": key})
        raise where.error(path, msg) from None


# ----------------------------------------------------------------------------- JSON layer


def _json_items(text: str, name: str) -> list[tuple[_Where, dict]]:
    """(where, object) for every record in a JSON or JSON Lines text."""
    if not text.strip():
        raise FeatureInputError(f"{name}: the file is empty", fix="give at least one feature")
    if Path(name).suffix.lower() in (".jsonl", ".ndjson"):
        items = _jsonl_items(text, name)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":
                raise FeatureInputError(f"{name}: malformed JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})",
                                        fix=_JSON_FIX) from None
            items = _jsonl_items(text, name)  # several documents: JSON Lines under another suffix
        else:
            items = [(_Where(name, i), obj) for i, obj in enumerate(_top_level(data, name))]
    if not items:
        raise FeatureInputError(f"{name}: no features in the file", fix="give at least one feature")
    for where, obj in items:
        if not isinstance(obj, dict):
            raise where.error(None, f"expected a feature object, got {_kind(obj)}")
    return items


def _jsonl_items(text: str, name: str) -> list[tuple[_Where, object]]:
    def bad_line(n: int, exc: json.JSONDecodeError) -> Exception:
        return FeatureInputError(f"{name}: malformed JSON at line {n}, column {exc.colno} ({exc.msg})", fix=_JSON_FIX)

    return [(_Where(name, i, n), obj) for i, (n, obj) in enumerate(jsonl_objects(text, bad_line))]


def _top_level(data: object, name: str) -> list:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if _format_of(data) is None and isinstance(data.get("features"), list):
            return data["features"]  # {"features": [...]} wrapper
        return [data]
    raise FeatureInputError(f"{name}: expected a feature object or a list of them, got {_kind(data)}",
                            fix=_JSON_FIX)


def _format_of(obj: dict) -> str | None:
    if obj.get("dataclass_name") == "NeuronRecord" or "neuron_id" in obj or "random_sample" in obj \
            or "most_positive_activation_records" in obj:
        return "openai"
    if "examples_quantiles" in obj or ("index" in obj and "activations" in obj):
        return "neuronpedia"
    if "feature_id" in obj or "examples" in obj or "documents" in obj:
        return "simple"
    return None


# ----------------------------------------------------------------------------- simple


def _simple(obj: dict, where: _Where) -> FeatureRecord:
    fid = obj.get("feature_id")
    if fid is None:
        raise where.error("feature_id", "missing", fix="give every feature a feature_id (text or a number)")
    if isinstance(fid, (str, int)) and not isinstance(fid, bool):
        where = replace(where, feature_id=str(fid))
    if "examples" in obj and "documents" in obj:
        raise where.error(None, "has both 'examples' and 'documents'", fix="give one of them")
    fields = {k: v for k, v in obj.items() if k not in ("examples", "documents")}
    if "documents" in obj:
        if obj.get("level", "document") != "document":
            raise where.error("level", f"is {obj['level']!r}, but 'documents' gives document-level examples")
        docs = _list(obj["documents"], where, "documents")
        fields["examples"] = [_document(d, where, f"documents[{i}]") for i, d in enumerate(docs)]
        fields["level"] = "document"
        field = "documents"
    elif "examples" in obj:
        exs = _list(obj["examples"], where, "examples")
        fields["examples"] = [_example(e, where, f"examples[{i}]", ("activations",)) for i, e in enumerate(exs)]
        field = "examples"
    else:
        raise where.error("examples", "missing",
                          fix="give 'examples' (tokens + activations) or 'documents' (text + activation)")
    if not fields["examples"]:
        raise where.error(field, "is empty", fix="give at least one example per feature")
    return _record(where, fields)


def _document(obj: object, where: _Where, field: str) -> ActivationExample:
    if not isinstance(obj, dict):
        raise where.error(field, f"expected an object with 'text' and 'activation', got {_kind(obj)}")
    for needed in ("text", "activation"):
        if needed not in obj:
            raise where.error(field, f"no {needed!r} field (fields: {', '.join(obj) or 'none'})")
    text, act = obj["text"], obj["activation"]
    if not isinstance(text, str):
        raise where.error(f"{field}.text", f"expected text, got {_kind(text)}")
    if isinstance(act, bool) or not isinstance(act, (int, float)) or not math.isfinite(act):
        raise where.error(f"{field}.activation", f"expected a finite number, got {act!r}")
    return ActivationExample.document(text, act)


# ----------------------------------------------------------------------------- neuronpedia


def _neuronpedia(obj: dict, where: _Where) -> FeatureRecord:
    where = replace(where, feature_id=_neuronpedia_id(obj, where))
    quantiles, activations = obj.get("examples_quantiles"), obj.get("activations")
    if quantiles is None and activations is None:
        raise where.error(None, "no examples: expected 'examples_quantiles' or 'activations'")
    examples = []
    for qi, q in enumerate(_list(quantiles or [], where, "examples_quantiles")):
        field = f"examples_quantiles[{qi}]"
        if not isinstance(q, dict) or "examples" not in q:
            raise where.error(field, "expected an object with 'quantile_name' and 'examples'")
        for ei, ex in enumerate(_list(q["examples"], where, f"{field}.examples")):
            examples.append(_example(ex, where, f"{field}.examples[{ei}]", ("tokens_acts_list", "values")))
    for ai, ex in enumerate(_list(activations or [], where, "activations")):
        examples.append(_example(ex, where, f"activations[{ai}]", ("values", "tokens_acts_list")))
    if not examples:
        raise where.error("examples_quantiles", "holds no examples", fix="export the feature with its activations")
    return _record(where, {"feature_id": where.feature_id, "examples": examples, "source": "neuronpedia",
                           "top_logits": _logits(obj, ("top_logits", "pos_str"), where),
                           "bottom_logits": _logits(obj, ("bottom_logits", "neg_str"), where)})


def _neuronpedia_id(obj: dict, where: _Where) -> str:
    if "index" not in obj:
        raise where.error("index", "missing", fix="a Neuronpedia feature needs its 'index'")
    index = obj["index"]
    if isinstance(index, float) and index.is_integer():
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, (int, str)) or index == "":
        raise where.error("index", f"expected a whole number, got {index!r}")
    model, layer = obj.get("modelId"), obj.get("layer")
    return f"{model}/{layer}/{index}" if model not in (None, "") and layer not in (None, "") else str(index)


def _logits(obj: dict, keys: tuple[str, ...], where: _Where) -> tuple[str, ...]:
    """Logit tokens as text; objects with a token field are accepted too."""
    key = next((k for k in keys if obj.get(k) is not None), None)
    if key is None:
        return ()
    out = []
    for i, item in enumerate(_list(obj[key], where, key)):
        if isinstance(item, dict):
            item = next((item[k] for k in ("token", "str", "text", "tok") if isinstance(item.get(k), str)), item)
        if not isinstance(item, str):
            raise where.error(f"{key}[{i}]", f"expected a token (text, or an object with 'token'), got {_kind(item)}")
        out.append(item)
    return tuple(out)


# ----------------------------------------------------------------------------- openai


_OPENAI_LISTS = ("most_positive_activation_records", "random_sample_by_quantile", "random_sample")


def _openai(obj: dict, where: _Where) -> FeatureRecord:
    """A neuron-explainer NeuronRecord; raw (possibly negative) activations, threshold 0."""
    where = replace(where, feature_id=_openai_id(obj, where))
    examples = []
    for key in _OPENAI_LISTS:
        value = obj.get(key)
        if value is None:
            continue
        for i, item in enumerate(_list(value, where, key)):
            if key == "random_sample_by_quantile":
                for j, rec in enumerate(_list(item, where, f"{key}[{i}]")):
                    examples.append(_example(rec, where, f"{key}[{i}][{j}]", ("activations",)))
            else:
                examples.append(_example(item, where, f"{key}[{i}]", ("activations",)))
    if not examples:
        raise where.error(None, f"no activation records: {', '.join(_OPENAI_LISTS)} are all missing or empty",
                          fix="export the NeuronRecord with its activation records")
    return _record(where, {"feature_id": where.feature_id, "examples": examples, "threshold": 0.0,
                           "source": "openai"})


def _openai_id(obj: dict, where: _Where) -> str:
    nid = obj.get("neuron_id")
    if not isinstance(nid, dict):
        problem = "missing" if nid is None else f"expected an object, got {_kind(nid)}"
        raise where.error("neuron_id", problem, fix="a NeuronRecord needs neuron_id {layer_index, neuron_index}")
    parts = []
    for key in ("layer_index", "neuron_index"):
        value = nid.get(key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            problem = "missing" if value is None else f"expected a whole number, got {value!r}"
            raise where.error(f"neuron_id.{key}", problem)
        parts.append(str(value))
    return "/".join(parts)
