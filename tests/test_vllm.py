"""vLLM for real: the in-process engine (CPU build, its own env) and `vllm serve` over HTTP,
each held to the same contract as llama.cpp and compared with it on the same weights."""

import json
import subprocess

import pytest

from hypodisc.backends.openai_http import OpenAIBackend
from hypodisc.backends.selfcheck import run_selfcheck

from conftest import VLLM_CPU_FLAGS
from contract import assert_agree, assert_contract

pytestmark = pytest.mark.vllm

# SmolLM2 through llama.cpp (Q4_1) vs vLLM (the same weights dequantized, run in bf16): measured
# gaps were <= 0.06 in P(yes) and <= 0.1 nats per continuation; the tolerances leave headroom.
P_TOL, LP_TOL = 0.15, 0.5


@pytest.fixture(scope="module")
def llama_report(smol):
    return run_selfcheck(smol)


def test_vllm_engine_contract_and_agreement(vllm_python, smol_hf, llama_report, tmp_path):
    out = tmp_path / "vllm.json"
    proc = subprocess.run(
        [str(vllm_python.with_name("hypodisc")), "backend-check", "--backend", "vllm", "--model", "smollm2-135m",
         *VLLM_CPU_FLAGS, "--json", str(out)],
        capture_output=True, text=True, timeout=900, cwd="/tmp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["backend"] == "vllm" and report["context_length"] == 2048
    assert_contract(report)
    assert_agree(llama_report, report, P_TOL, LP_TOL)


@pytest.fixture(scope="module")
def served(vllm_server):
    backend = OpenAIBackend(vllm_server, "auto", max_retries=1)
    yield backend
    backend.close()


def test_openai_backend_against_vllm_serve(served, llama_report):
    assert served.model == "smollm2-135m"  # picked from /v1/models
    assert served.context_length == 2048  # read from the server
    report = run_selfcheck(served)
    assert_contract(report)
    assert_agree(llama_report, report, P_TOL, LP_TOL)


def test_openai_raw_text_yes_no_uses_completions(served):
    p = served.yes_no_probs(["Question: Is fire hot? Answer Yes or No.\nAnswer:"])
    assert 0.0 <= p[0] <= 1.0


def test_openai_prompt_too_long(served):
    from hypodisc.errors import PromptTooLongError

    with pytest.raises(PromptTooLongError, match="127.0.0.1"):
        served.yes_no_probs([[{"role": "user", "content": "word " * 3000}]])
