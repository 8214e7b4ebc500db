"""The llama.cpp backend against the contract, on SmolLM2 (real model, fast)."""

import types

import pytest

from hypodisc.backends import GenerationParams
from hypodisc.backends.selfcheck import run_selfcheck
from hypodisc.errors import BackendUnavailableError, PromptTooLongError, UnsupportedInputError

from contract import assert_contract


def test_selfcheck_satisfies_contract(smol):
    assert_contract(run_selfcheck(smol))


def test_selfcheck_counts_only_its_own_usage(smol):
    """The session-wide backend has served other tests; the report must not include their work."""
    smol.yes_no_probs([[{"role": "user", "content": "Is water wet? Answer Yes or No."}]])
    assert smol.usage.yes_no_judgments > 0
    assert_contract(run_selfcheck(smol))


def test_chat_template_comes_from_the_gguf(smol):
    text = smol.render([{"role": "user", "content": "hi"}])
    assert "<|im_start|>user\nhi<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")


def test_a_text_gguf_refuses_images_and_reads_text_parts_as_text(smol):
    image = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                          {"type": "image", "data": b"\x89PNG\r\n\x1a\n"}]}]
    before = smol.usage.snapshot()
    for call in (lambda: smol.generate([image], GenerationParams(max_tokens=4)), lambda: smol.yes_no_probs([image]),
                 lambda: smol.continuation_logprobs([image], [" A"])):
        with pytest.raises(UnsupportedInputError, match="the llamacpp backend reads text only .* multimodal backend"):
            call()
    assert smol.usage.as_dict() == before.as_dict()
    parts = [{"role": "user", "content": [{"type": "text", "text": "Is water wet?"}, {"type": "text", "text": "Yes or No."}]}]
    assert smol.render(parts) == smol.render([{"role": "user", "content": "Is water wet?\nYes or No."}])


def test_prefix_reuse_does_not_change_scores(smol):
    prompts = [[{"role": "user", "content": f"Is {x} a fruit? Answer Yes or No."}] for x in ("an apple", "a car", "a pear")]
    batch = smol.yes_no_probs(prompts)
    one_by_one = [smol.yes_no_probs([p])[0] for p in reversed(prompts)][::-1]
    assert batch == pytest.approx(one_by_one, abs=1e-4)
    a = smol.continuation_logprobs(["The sky is", "The sky is very"], [" blue", " dark"])
    b = smol.continuation_logprobs(["The sky is very", "The sky is"], [" dark", " blue"])
    assert a[0].logprobs == pytest.approx(b[1].logprobs, abs=1e-4)
    assert a[1].logprobs == pytest.approx(b[0].logprobs, abs=1e-4)


def test_sampling_params_are_per_call(smol):
    prompt = [[{"role": "user", "content": "List three animals, one per line."}]]
    free = smol.generate(prompt, GenerationParams(max_tokens=24))[0].texts[0]
    smol.generate(prompt, GenerationParams(max_tokens=24, stop=("\n",), temperature=1.5, seed=3))
    assert smol.generate(prompt, GenerationParams(max_tokens=24))[0].texts[0] == free


def test_same_seed_same_samples(smol):
    prompt = [[{"role": "user", "content": "Say a random word."}]]
    params = GenerationParams(n=2, temperature=1.0, max_tokens=8, seed=7)
    assert smol.generate(prompt, params)[0].texts == smol.generate(prompt, params)[0].texts


SYSTEM = {"role": "system", "content": "You name things. Reply with a single word, lower case, and nothing else at all."}


def test_shared_system_turn_is_decoded_once_and_seeds_still_reproduce(smol):
    """Generation keeps a prompt's system turn cached as one block: a second prompt with the same system
    turn decodes fewer tokens, and a seed gives the same samples whatever ran in between."""
    first = [SYSTEM, {"role": "user", "content": "Name a fruit."}]
    second = [SYSTEM, {"role": "user", "content": "Name a colour."}]
    params = GenerationParams(n=2, temperature=1.0, max_tokens=6, seed=11)
    smol.yes_no_probs([[{"role": "user", "content": "Is ice cold? Answer Yes or No."}]])  # the cache holds a judgment
    cold = smol.usage.snapshot()
    alone = smol.generate([second], params)[0]
    decoded_cold = (smol.usage - cold).prompt_tokens
    smol.generate([first], params)
    warm = smol.usage.snapshot()
    after_first = smol.generate([second], params)[0]
    decoded_warm = (smol.usage - warm).prompt_tokens
    assert after_first.texts == alone.texts
    assert after_first.prompt_tokens == alone.prompt_tokens  # the prompt's size, not what was decoded
    system_tokens = len(smol._tokenize(SYSTEM["content"], special=False))
    assert decoded_warm <= decoded_cold - system_tokens, (decoded_cold, decoded_warm)


def test_prompts_sharing_a_prefix_are_decoded_side_by_side(smol):
    """A text's judgments go through one batch of parallel sequences: the same answers (up to llama.cpp's
    batch-order rounding), the shared prefix decoded once, and the cache left holding the first prompt."""
    text = "Shares of the bank fell four percent after it reported lower quarterly profits than expected."
    prompts = [[SYSTEM, {"role": "user", "content": f"Text: {text}\nProperty: {h}"}]
               for h in ("is about money.", "mentions an animal.", "asks a question.")]
    assert [len(g) for g, _ in smol._groups([smol._prompt_tokens(p) for p in prompts])] == [3]
    before = smol.usage.snapshot()
    together = smol.yes_no_probs(prompts)
    decoded = (smol.usage - before).prompt_tokens
    first = min(range(3), key=lambda i: smol._prompt_tokens(prompts[i]))
    before = smol.usage.snapshot()
    smol.yes_no_probs([prompts[first]])
    assert (smol.usage - before).prompt_tokens == 1  # cached: only the read position is decoded again
    longest = max(len(smol._prompt_tokens(p)) for p in prompts)
    assert decoded < longest + 3 * 12  # the prefix once, then ~8-token suffixes
    parallel, smol._parallel = smol._parallel, 1
    try:
        one_by_one = [smol.yes_no_probs([p])[0] for p in prompts]
    finally:
        smol._parallel = parallel
    assert together == pytest.approx(one_by_one, abs=0.1)


def test_bad_params_are_refused():
    with pytest.raises(ValueError, match="temperature"):
        GenerationParams(n=3, temperature=0.0)
    with pytest.raises(ValueError):
        GenerationParams(max_tokens=0)


def test_prompt_longer_than_context(smol):
    long = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(PromptTooLongError, match="context window is 2048"):
        smol.yes_no_probs([long])
    with pytest.raises(PromptTooLongError):
        smol.generate([[{"role": "user", "content": "word " * 2030}]], GenerationParams(max_tokens=64))
    with pytest.raises(PromptTooLongError):
        smol.continuation_logprobs(["word " * 3000], [" end"])


@pytest.mark.fast
def test_untested_llama_cpp_releases_are_refused_before_use():
    import llama_cpp

    from hypodisc.backends.llamacpp import check_private_members

    class Renamed:  # a Llama whose private members moved
        pass

    with pytest.raises(BackendUnavailableError, match=r"missing: Llama\._ctx, Llama\._batch"):
        check_private_members(llama_cpp, Renamed())
    newer = types.SimpleNamespace(__version__="0.4.1", _internals=llama_cpp._internals)
    with pytest.raises(BackendUnavailableError, match=r"0\.4\.1 is outside the tested releases"):
        check_private_members(newer, Renamed())
