"""The embedded CPU default: a GGUF model through llama-cpp-python.

We render chats with the GGUF's own chat template and drive the KV cache
ourselves for yes/no and continuation scoring: only the tokens after the prefix
shared with the previous prompt are decoded, logits are requested only at the
positions we read, and yes/no prompts that share most of their tokens (a text's
judgments) decode their short suffixes side by side as parallel sequences.
Generation goes through llama-cpp-python's sampler; each prompt's system turn is
kept in the cache as one block and the rest is evaluated after it, so prompts that
share a system turn pay for it once and a fixed seed still reproduces its samples
whatever ran before.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hypodisc.backends.llamacpp_probe import ensure_llamacpp_runs, not_installed
from hypodisc.backends.base import ContinuationScore, Generation, GenerationParams, Prompt, Usage, check_fits, paired
from hypodisc.backends.chat_content import text_only
from hypodisc.backends.prefix import common_prefix_len, prefix_order
from hypodisc.backends.yesno import p_yes, variant_token_ids
from hypodisc.errors import BackendUnavailableError, ModelIntegrityError


#: prompts that share a prefix are decoded together as this many parallel sequences of one batch
MAX_PARALLEL = 8
#: llama-cpp-python releases [from, to) whose private members this backend was tested against; the same
#: range as the ``llamacpp`` extra in pyproject.toml. Checked once, in :func:`check_private_members`.
TESTED_RELEASES = ((0, 3, 16), (0, 4, 0))
#: the private members used here: the context, batch and token cache of ``Llama``, and ``_internals``
_LLAMA_MEMBERS = ("_ctx", "_batch", "_model", "_stack", "input_ids", "n_tokens", "context_params", "n_batch")
_CONTEXT_MEMBERS = ("decode", "get_logits_ith", "kv_cache_seq_rm", "kv_cache_seq_cp", "close")
#: a shared prefix shorter than this is not worth a sequence copy
MIN_SHARED = 16


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def check_private_members(llama_cpp, llm) -> None:
    """The one place that vouches for llama-cpp-python's private members before any is used.

    llama-cpp-python has no public API for reading logits at chosen positions, parallel sequences
    or cache edits, so this backend uses its internals; a release outside the tested range, or one
    that renamed a member, is refused here with the fix instead of failing mid-job.
    """
    version = tuple(int(x) for x in llama_cpp.__version__.split(".")[:3] if x.isdigit())
    lo, hi = TESTED_RELEASES
    missing = [f"Llama.{m}" for m in _LLAMA_MEMBERS if not hasattr(llm, m)]
    missing += [f"Llama._ctx.{m}" for m in _CONTEXT_MEMBERS if hasattr(llm, "_ctx") and not hasattr(llm._ctx, m)]
    missing += [] if hasattr(getattr(llama_cpp, "_internals", None), "LlamaContext") else ["_internals.LlamaContext"]
    if missing or not lo <= version < hi:
        problems = [] if lo <= version < hi else [
            f"is outside the tested releases {'.'.join(map(str, lo))} to <{'.'.join(map(str, hi))}"]
        problems += [f"lacks private members this backend uses (missing: {', '.join(missing)})"] if missing else []
        raise BackendUnavailableError(f"llama-cpp-python {llama_cpp.__version__} {' and '.join(problems)}",
                                      fix="install llama-cpp-python>=0.3.16,<0.4 (`make install` builds the tested one)")


class LlamaCppBackend:
    name = "llamacpp"
    batch_size = 8
    max_concurrent_calls = 1  # one llama.cpp context: not thread-safe

    def __init__(self, model_path: str | Path, *, n_ctx: int = 4096, n_threads: int | None = None,
                 n_batch: int = 512, seed: int = 0, model_name: str | None = None, reuse_prefix: bool = True,
                 probe_cache_dir: Path | None = None, flash_attn: bool = False):
        path = Path(model_path)
        if not path.is_file():
            raise BackendUnavailableError(f"no GGUF file at {path}", fix="pass a .gguf path or a registered model name")
        # A wheel this CPU can't run dies with SIGILL at the first matrix product; find out in a child first.
        ensure_llamacpp_runs(path, probe_cache_dir)
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as exc:
            raise not_installed(str(exc)) from None
        self._llama_cpp = llama_cpp
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(path), n_ctx=n_ctx, n_batch=n_batch, n_threads=n_threads or os.cpu_count(),
                seed=seed, verbose=False, logits_all=False,
                # ggml's flash attention prefilled a 430-token prompt 1.12x as fast here, but D3-size diff
                # jobs (short texts, cached prefixes) were no faster and P(yes) moved by up to 0.03, so it
                # stays off unless asked for (BENCHMARKS.md)
                flash_attn=flash_attn,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelIntegrityError(f"llama.cpp could not load {path}: {exc}",
                                      fix="check that the file is a complete GGUF; reinstall it with `hypodisc models install NAME --force`") from None
        check_private_members(llama_cpp, self._llm)
        self._parallel = self._allow_parallel_sequences(MAX_PARALLEL)
        self.model = model_name or path.name
        self.usage = Usage()
        self._seed = seed
        self._pinned: tuple[int, ...] | None = None  # a system turn the cache holds as one block from 0
        self._reuse_prefix = reuse_prefix  # off only to measure what reuse saves
        self._n_vocab = self._llm.n_vocab()
        meta = self._llm.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise BackendUnavailableError(f"{path.name} has no chat template in its GGUF metadata",
                                          fix="use an instruct/chat GGUF")
        vocab = self._llm._model
        self._eos_text = self._piece(vocab.token_eos())
        bos_id = vocab.token_bos()
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=self._eos_text,
                                              bos_token=self._piece(bos_id) if bos_id >= 0 else "")
        self._yes_ids, self._no_ids = variant_token_ids(
            lambda s: self._tokenize(s, special=False), lambda t: self._piece(t))

    def _allow_parallel_sequences(self, n: int) -> int:
        """Re-create the context with ``n`` sequences over one shared (unified) KV cache.

        llama-cpp-python builds its context for one sequence and has no argument for more; with
        several, a text's judgments decode their short property suffixes side by side in one batch
        after the text's prefix is copied (not recomputed) into each sequence. Small batches use
        the CPU poorly, so this cut the wall time of a text's judgments to 0.72x on this project's
        CPU hosts (BENCHMARKS.md). Returns the sequences available (1 if
        this llama.cpp refuses).
        """
        import contextlib

        _internals = self._llama_cpp._internals

        params = self._llm.context_params
        params.n_seq_max, params.kv_unified = n, True
        try:
            ctx = _internals.LlamaContext(model=self._llm._model, params=params, verbose=False)
        except Exception:  # an older llama.cpp without unified caches: one sequence, as before
            params.n_seq_max, params.kv_unified = 1, False
            return 1
        self._llm._ctx.close()
        self._llm._ctx = self._llm._stack.enter_context(contextlib.closing(ctx))
        return n

    # -- tokens ----------------------------------------------------------
    @property
    def context_length(self) -> int:
        return self._llm.n_ctx()

    def _piece(self, token: int) -> str:
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def _tokenize(self, text: str, special: bool) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def render(self, prompt: Prompt) -> str:
        """Chat -> text with the GGUF's template (assistant turn opened); text -> itself.

        A text GGUF cannot see images: a chat with one is refused here, where every prompt passes.
        """
        prompt = text_only(prompt, self.name)
        if isinstance(prompt, str):
            return prompt
        return self._formatter(messages=list(prompt)).prompt

    def _prompt_tokens(self, prompt: Prompt) -> list[int]:
        # Chat templates spell special tokens (<|im_start|>) as text; raw prompts are data.
        return self._tokenize(self.render(prompt), special=not isinstance(prompt, str))

    def _check_fits(self, n: int, extra: int = 0, what: str = "prompt") -> None:
        check_fits(n, extra, self.context_length, what, fix="shorten the input or raise --n-ctx")

    # -- KV cache --------------------------------------------------------
    def _logprobs_at(self, batch_index: int) -> np.ndarray:
        """Log-softmax of the logits the last decode produced at one position of its batch."""
        ptr = self._llm._ctx.get_logits_ith(batch_index)
        return _log_softmax(np.ctypeslib.as_array(ptr, shape=(self._n_vocab,)).astype(np.float64))

    def _decode(self, tokens: list[int], want: set[int]) -> dict[int, np.ndarray]:
        """Bring the cache to ``tokens``; return log-softmax rows at positions ``want``.

        Reuses the prefix shared with what the cache holds, but always re-decodes
        from the first wanted position so its logits are live.
        """
        llm = self._llm
        cached = list(llm.input_ids[: llm.n_tokens]) if self._reuse_prefix else []
        start = min(common_prefix_len(cached, tokens), min(want) if want else len(tokens) - 1, len(tokens) - 1)
        if self._pinned is not None and start < len(self._pinned):
            self._pinned = None
        llm._ctx.kv_cache_seq_rm(-1, start, -1)
        llm.n_tokens = start
        rows: dict[int, np.ndarray] = {}
        n_batch = llm.n_batch
        for lo in range(start, len(tokens), n_batch):
            chunk = tokens[lo: lo + n_batch]
            batch = llm._batch
            batch.set_batch(batch=chunk, n_past=lo, logits_all=False)
            flagged = {i for i in range(len(chunk)) if lo + i in want}
            for i in range(len(chunk)):
                batch.batch.logits[i] = i in flagged
            llm._ctx.decode(batch)
            for i in sorted(flagged):
                rows[lo + i] = self._logprobs_at(i)
            llm.input_ids[lo: lo + len(chunk)] = chunk
            llm.n_tokens = lo + len(chunk)
        llm._requires_eval = True
        self.usage.add(prompt_tokens=len(tokens) - start)
        return rows

    # -- protocol --------------------------------------------------------
    def yes_no_probs(self, prompts: Sequence[Prompt]) -> list[float]:
        token_lists = [self._prompt_tokens(p) for p in prompts]
        for toks in token_lists:
            self._check_fits(len(toks), what="yes/no prompt")
        out = [0.0] * len(prompts)
        yes, no = sorted(self._yes_ids), sorted(self._no_ids)
        for group, shared in self._groups(token_lists):
            if len(group) == 1:
                toks = token_lists[group[0]]
                rows = [self._decode(toks, {len(toks) - 1})[len(toks) - 1]]
            else:
                rows = self._decode_parallel([token_lists[i] for i in group], shared)
            for i, row in zip(group, rows):
                out[i] = p_yes(row[yes].tolist(), row[no].tolist())
        self.usage.add(calls=len(prompts), yes_no_judgments=len(prompts))
        return out

    def _groups(self, token_lists: list[list[int]]) -> list[tuple[list[int], int]]:
        """Prompts in prefix order, cut into runs that share most of their tokens.

        Each run is (prompt indices, shared length). A prompt joins the run before it when it shares
        the run's whole prefix, that prefix is at least MIN_SHARED tokens and longer than what is left
        of the prompt (a text with the properties judged on it, not just a common system turn), and
        the run still fits one batch, the parallel sequences and the context.
        """
        groups: list[tuple[list[int], int]] = []
        for i in prefix_order(token_lists):
            toks = token_lists[i]
            if groups:
                members, shared = groups[-1]
                first = token_lists[members[0]]
                common = min(common_prefix_len(first, toks), len(toks) - 1, len(first) - 1)
                if len(members) > 1 and common < shared:
                    common = -1  # would shrink the run's prefix: start a new run
                suffixes = sum(len(token_lists[j]) - common for j in members) + len(toks) - common
                if (common >= MIN_SHARED and len(toks) - common <= common and len(members) < self._parallel
                        and suffixes <= self._llm.n_batch and common + suffixes <= self.context_length):
                    groups[-1] = (members + [i], common if len(members) == 1 else shared)
                    continue
            groups.append(([i], len(toks)))
        return groups

    def _decode_parallel(self, token_lists: list[list[int]], shared: int) -> list[np.ndarray]:
        """Last-position log-softmax rows of prompts that share their first ``shared`` tokens.

        The shared prefix is decoded (or found in the cache) once in sequence 0 and copied to
        sequences 1..n-1; every prompt's remaining tokens then go through one batch, each in its
        own sequence, so no prompt attends to another's suffix. Afterwards the cache holds the
        first prompt, as if it had been decoded alone.
        """
        llm, ctx = self._llm, self._llm._ctx
        first = token_lists[0]
        self._decode(first[:shared], {shared - 1})
        for s in range(1, len(token_lists)):
            ctx.kv_cache_seq_cp(0, s, 0, shared)
        batch, n, last = llm._batch.batch, 0, []
        for s, toks in enumerate(token_lists):
            for k, tok in enumerate(toks[shared:]):
                batch.token[n], batch.pos[n] = tok, shared + k
                batch.n_seq_id[n], batch.seq_id[n][0] = 1, s
                batch.logits[n] = k == len(toks) - shared - 1
                n += 1
            last.append(n - 1)
        batch.n_tokens = n
        ctx.decode(llm._batch)
        rows = [self._logprobs_at(i) for i in last]
        for s in range(1, len(token_lists)):
            ctx.kv_cache_seq_rm(s, -1, -1)
        llm.input_ids[shared: len(first)] = first[shared:]
        llm.n_tokens = len(first)
        self.usage.add(prompt_tokens=n)
        return rows

    def continuation_logprobs(self, contexts: Sequence[Prompt], continuations: Sequence[str]) -> list[ContinuationScore]:
        pairs = []
        for ctx, cont in paired(contexts, continuations):
            ctx_toks = self._prompt_tokens(ctx)
            cont_toks = self._tokenize(cont, special=False)
            if not ctx_toks or not cont_toks:
                raise ValueError("context and continuation must each be at least one token")
            self._check_fits(len(ctx_toks) + len(cont_toks), what="context plus continuation")
            pairs.append((ctx_toks, cont_toks))
        out: list[ContinuationScore | None] = [None] * len(pairs)
        for i in prefix_order([c + k for c, k in pairs]):
            ctx_toks, cont_toks = pairs[i]
            full = ctx_toks + cont_toks
            positions = range(len(ctx_toks) - 1, len(full) - 1)
            rows = self._decode(full, set(positions))
            out[i] = ContinuationScore(
                tokens=[self._piece(t) for t in cont_toks],
                logprobs=[float(rows[p][tok]) for p, tok in zip(positions, cont_toks)],
            )
        self.usage.add(calls=len(pairs))
        return [o for o in out if o is not None]

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Generation]:
        token_lists = [self._prompt_tokens(p) for p in prompts]
        for toks in token_lists:
            self._check_fits(len(toks), params.max_tokens, what="prompt plus max_tokens")
        rng = random.Random(params.seed if params.seed is not None else self._seed)
        out: list[Generation | None] = [None] * len(prompts)
        for i in prefix_order(token_lists):
            texts, n_prompt, n_completion = [], 0, 0
            cached = self._start_from_system_turn(prompts[i], token_lists[i])
            for _ in range(params.n):
                res = self._llm.create_completion(
                    prompt=token_lists[i], max_tokens=params.max_tokens, temperature=params.temperature,
                    top_p=params.top_p, stop=list(params.stop) or None, seed=rng.randrange(2**31),
                )
                texts.append(res["choices"][0]["text"])
                n_prompt = res["usage"]["prompt_tokens"]
                n_completion += res["usage"]["completion_tokens"]
            # usage counts decoded tokens: the system turn's were counted when (if) it was decoded
            self.usage.add(calls=params.n, prompt_tokens=n_prompt - cached, completion_tokens=n_completion)
            out[i] = Generation(texts=texts, prompt_tokens=n_prompt, completion_tokens=n_completion)
        return [o for o in out if o is not None]

    def _start_from_system_turn(self, prompt: Prompt, tokens: list[int]) -> int:
        """Leave in the cache exactly the prompt's system turn, decoded as one block from position 0.

        Logits depend slightly on how a prompt was split into batches, and a sample at
        temperature > 0 can flip on that. The split here depends only on the prompt (its system
        turn, then the rest), never on what ran before, so a seed reproduces its samples; and
        prompts sharing a system turn (the contrast proposer's, the explainer's) decode it once.
        Returns how many of the prompt's tokens the cache now holds.
        """
        llm = self._llm
        pin: tuple[int, ...] = ()
        if not isinstance(prompt, str) and prompt and prompt[0].get("role") == "system":
            head = self._prompt_tokens([prompt[0], {"role": "user", "content": ""}])
            pin = tuple(tokens[: common_prefix_len(head, tokens[:-1])])
        if len(pin) < 16 or len(pin) > llm.n_batch:
            pin = ()
        if not (pin and self._pinned == pin and tuple(llm.input_ids[: len(pin)]) == pin and llm.n_tokens >= len(pin)):
            llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            llm.n_tokens = 0
            self._pinned = None
            if pin:
                llm.eval(list(pin))
                self._pinned = pin
                self.usage.add(prompt_tokens=len(pin))
        llm._ctx.kv_cache_seq_rm(-1, len(pin), -1)
        llm.n_tokens = len(pin)
        llm._requires_eval = True
        return len(pin)

    def close(self) -> None:
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is not None:
            llm.close()
