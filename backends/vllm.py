"""The production path: vLLM's in-process engine on a GPU (or its CPU build).

Prompts are token ids rendered with the model's own chat template, so every
backend sees the same text; a chat with images goes through ``LLM.chat`` in
OpenAI form instead, so a multimodal model's own processor places them.
Automatic prefix caching is on: the verifier puts the shared instruction and
hypothesis before the varying text, so a batch of judgments for one hypothesis
reuses one cached prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hypodisc.backends.base import (ContinuationScore, Generation, GenerationParams, Prompt, Usage, YES_NO_TOP_K,
                                    check_fits, paired)
from hypodisc.backends.chat_content import has_images, openai_messages, text_only
from hypodisc.backends.yesno import p_yes, variant_token_ids
from hypodisc.errors import BackendUnavailableError, UnsupportedInputError

#: Top-k logprobs requested for the yes/no token; yes/no spellings rank far inside this.


class VLLMBackend:
    name = "vllm"
    batch_size = 64
    max_concurrent_calls = 1  # vLLM's offline engine is driven from one thread; it batches inside a call

    def __init__(self, model: str | Path, *, gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                 dtype: str = "auto", seed: int = 0, enable_prefix_caching: bool = True,
                 model_name: str | None = None, **engine_kwargs):
        try:
            import vllm
        except ImportError as exc:
            raise BackendUnavailableError(
                f"vLLM is not installed ({exc})",
                fix="`pip install hypodisc[vllm]` on a GPU box, or `make vllm-env` for the CPU build",
            ) from None
        self._vllm = vllm
        self._llm = vllm.LLM(
            model=str(model), gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
            dtype=dtype, seed=seed, enable_prefix_caching=enable_prefix_caching,
            max_logprobs=YES_NO_TOP_K, **engine_kwargs,
        )
        self._tok = self._llm.get_tokenizer()
        self.model = model_name or str(model)
        self.usage = Usage()
        self._seed = seed
        self._yes_ids, self._no_ids = variant_token_ids(
            lambda s: self._tok.encode(s, add_special_tokens=False), lambda t: self._tok.decode([t]))

    @property
    def context_length(self) -> int:
        return int(self._llm.llm_engine.model_config.max_model_len)

    def render(self, prompt: Prompt) -> str:
        """Text of a prompt without images (text parts joined); chats with images never come here."""
        prompt = text_only(prompt, self.name)
        if isinstance(prompt, str):
            return prompt
        return self._tok.apply_chat_template(list(prompt), add_generation_prompt=True, tokenize=False)

    def _prompt_tokens(self, prompt: Prompt) -> list[int]:
        # The rendered template already spells any BOS it wants, so add none here.
        return list(self._tok.encode(self.render(prompt), add_special_tokens=False))

    def _check_fits(self, n: int, extra: int, what: str) -> None:
        check_fits(n, extra, self.context_length, what, fix="shorten the input or raise --max-model-len")

    def _run(self, token_lists: list[list[int]], params) -> list:
        from vllm.inputs import TokensPrompt

        outs = self._llm.generate([TokensPrompt(prompt_token_ids=t) for t in token_lists], params, use_tqdm=False)
        self.usage.add(calls=len(token_lists), prompt_tokens=sum(len(t) for t in token_lists),
                       completion_tokens=sum(len(c.token_ids) for o in outs for c in o.outputs))
        return outs

    def _run_prompts(self, prompts: Sequence[Prompt], params, extra: int, what: str) -> list[tuple[object, int]]:
        """(vLLM output, prompt tokens) per prompt, in order. Prompts without images go in as token ids
        rendered here (checked against the context first); chats with images go through ``LLM.chat`` in
        OpenAI form, so the model's processor turns each image into its tokens (vLLM checks the length)."""
        imaged = [i for i, p in enumerate(prompts) if has_images(p)]
        if imaged and not getattr(self._llm.llm_engine.model_config, "is_multimodal_model", True):
            raise UnsupportedInputError(
                f"the vllm backend's model {self.model} reads text only and this chat has an image: "
                "images need a multimodal model", fix="load a vision-language model, or send text only")
        plain = sorted(set(range(len(prompts))) - set(imaged))
        token_lists = [self._prompt_tokens(prompts[i]) for i in plain]
        for t in token_lists:
            self._check_fits(len(t), extra, what)
        out: list[tuple[object, int]] = [(None, 0)] * len(prompts)
        if plain:
            for i, t, o in zip(plain, token_lists, self._run(token_lists, params)):
                out[i] = (o, len(t))
        if imaged:
            outs = self._llm.chat([openai_messages(prompts[i]) for i in imaged], params, use_tqdm=False)
            for i, o in zip(imaged, outs):
                out[i] = (o, len(o.prompt_token_ids or ()))
            self.usage.add(calls=len(imaged), prompt_tokens=sum(out[i][1] for i in imaged),
                           completion_tokens=sum(len(c.token_ids) for o in outs for c in o.outputs))
        return out

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        sp = self._vllm.SamplingParams(
            n=params.n, temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_tokens,
            stop=list(params.stop) or None, seed=params.seed if params.seed is not None else self._seed,
        )
        return [
            Generation(texts=[c.text for c in o.outputs], prompt_tokens=n,
                       completion_tokens=sum(len(c.token_ids) for c in o.outputs))
            for o, n in self._run_prompts(prompts, sp, params.max_tokens, "prompt plus max_tokens")
        ]

    def yes_no_probs(self, prompts: Sequence[Prompt]) -> list[float]:
        sp = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=YES_NO_TOP_K)
        out = []
        for o, _ in self._run_prompts(prompts, sp, 1, "yes/no prompt"):
            top = o.outputs[0].logprobs[0]  # {token_id: Logprob}
            out.append(p_yes([lp.logprob for tid, lp in top.items() if tid in self._yes_ids],
                             [lp.logprob for tid, lp in top.items() if tid in self._no_ids]))
        self.usage.add(yes_no_judgments=len(prompts))
        return out

    def continuation_logprobs(self, contexts: Sequence[Prompt], continuations: Sequence[str]) -> list[ContinuationScore]:
        if any(has_images(c) for c in contexts):
            raise UnsupportedInputError(
                "the vllm backend scores continuations after text contexts only, and this context has an image",
                fix="score continuations after a text context; images work with generate and yes/no judgments")
        pairs = [(self._prompt_tokens(c), list(self._tok.encode(k, add_special_tokens=False)))
                 for c, k in paired(contexts, continuations)]
        for c, k in pairs:
            if not c or not k:
                raise ValueError("context and continuation must each be at least one token")
            self._check_fits(len(c) + len(k), 1, "context plus continuation")
        sp = self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        results = []
        for (c, k), o in zip(pairs, self._run([c + k for c, k in pairs], sp)):
            plp = o.prompt_logprobs  # one {token_id: Logprob} per prompt position; [0] is None
            results.append(ContinuationScore(
                tokens=[self._tok.decode([t]) for t in k],
                logprobs=[float(plp[len(c) + j][t].logprob) for j, t in enumerate(k)],
            ))
        return results

    def close(self) -> None:
        self._llm = None
