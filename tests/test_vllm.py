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


_IMAGE_CHECK = """
from hypodisc.backends.base import GenerationParams
from hypodisc.backends.vllm import VLLMBackend
from hypodisc.errors import UnsupportedInputError

def main(model):
    llm = VLLMBackend(model, gpu_memory_utilization=0.3, max_model_len=2048, enforce_eager=True)
    params = GenerationParams(max_tokens=8)
    parts = [{"role": "user", "content": [{"type": "text", "text": "Name a colour."}]}]
    text = [{"role": "user", "content": "Name a colour."}]
    assert llm.generate([parts], params)[0].texts == llm.generate([text], params)[0].texts
    image = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                          {"type": "image", "data": b"\\x89PNG\\r\\n\\x1a\\n"}]}]
    for call in (lambda: llm.generate([text, image], params), lambda: llm.continuation_logprobs([image], [" A"])):
        try:
            call()
        except UnsupportedInputError as exc:
            print("refused:", exc)
        else:
            raise AssertionError("an image reached a text-only model")

if __name__ == "__main__":  # vLLM's engine starts worker processes by spawning
    import sys
    main(sys.argv[1])
"""


def test_vllm_engine_reads_text_parts_and_refuses_images_for_a_text_model(vllm_python, smol_hf, tmp_path):
    script = tmp_path / "image_check.py"
    script.write_text(_IMAGE_CHECK)
    proc = subprocess.run([str(vllm_python), str(script), str(smol_hf)], capture_output=True, text=True,
                          timeout=900, cwd="/tmp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "refused: the vllm backend's model" in proc.stdout and "multimodal model" in proc.stdout
    assert "refused: the vllm backend scores continuations after text contexts only" in proc.stdout
