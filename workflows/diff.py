"""Text-difference discovery (D5/D3): what is more often true of corpus A than of corpus B?

Pipeline, each step on its own data so reported statistics are honest:
1. split each corpus at random (seeded) into proposal / screen / confirm parts;
2. rank proposal texts by how typical they are (cross-validated classifier);
3. the LLM proposes candidates from percentile bands of typical texts;
4. near-duplicates are dropped by embedding similarity;
5. the cascade: an embedding ranker keeps the most promising candidates, the
   LLM judge screens them with successive elimination, and the survivors are
   judged once more on the untouched confirm split, which alone yields the
   reported validity, p-values, CIs and BH q-values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

from hypodisc.backends.base import LLMBackend
from hypodisc.errors import InputRejected
from hypodisc.proposers.abstraction import ABSTRACTION_SOURCE, abstract_candidates
from hypodisc.proposers.goal import Goal, render_goal
from hypodisc.proposers.contrast_proposer import ContrastConfig, propose_from_contrasts
from hypodisc.proposers.llm_proposer import ProposerConfig, prompts_needed, propose
from hypodisc.proposers.representative import Separability, separability, tfidf_features
from hypodisc.verifiers.embedding import Embedder, greedy_dedupe, similarity
from hypodisc.verifiers.llm_judge import LLMJudge
from hypodisc.verifiers.pair_stats import score_pair
from hypodisc.verifiers.sequential import successive_elimination
from hypodisc.workflows.contract import Checkpoints, Engines, NoLimits, Progress, no_progress
from hypodisc.workflows.cost import CostMeter
from hypodisc.workflows.diff_models import (
    CandidateFate,
    DiffConfig,
    DiffRequest,
    DiffResult,
    DiffStage,
    Example,
    HypothesisResult,
    Separation,
    Splits,
    check_diff,
    diff_needs,
    embedder_required,
)

#: on_checkpoint(stage, data): a finished stage's JSON-safe output, for resuming after a crash.
Checkpoint = Callable[[str, dict], None]
#: below this many proposal texts per side the cross-validated AUROC is too noisy to call corpora alike
#: (the demo's 12 + 12 gave 0.54 on a pair that its top hypothesis separates at held-out AUROC 0.85)
MIN_FOR_SEPARABILITY = 20
#: with fewer screen texts per side the LLM screen cannot tell candidates apart (successive elimination
#: needs 4 per side before its first cut); the embedding ranker's order is used instead
MIN_SCREEN_PER_SIDE = 10


class DiffInputError(InputRejected):
    """A diff job the inputs cannot support (no engine for this config, nothing usable proposed)."""


def run_diff_job(req: DiffRequest, engines: Engines, progress: Progress, checkpoints: Checkpoints) -> DiffResult:
    """The diff workflow as the registry runs it: the engines the request needs, then :func:`run_diff`."""
    needs = diff_needs(req)
    return run_diff(req.a, req.b, req.goal, req.config, backend=engines.llm() if needs.llm else None,
                    embedder=engines.embedder() if needs.embedder else None, candidates=req.hypotheses,
                    progress=progress, resume=checkpoints.saved, on_checkpoint=checkpoints.save)


def split_indices(n: int, cfg: DiffConfig, rng: np.random.Generator) -> tuple[list[int], list[int], list[int]]:
    """(proposal, screen, confirm) indices; exhaustive/embedding modes use screen+confirm together."""
    perm = rng.permutation(n).tolist()
    n_prop = int(min(cfg.max_proposal_per_side, max(2, round(cfg.proposal_fraction * n))))
    n_prop = min(n_prop, n - 4)
    held = perm[n_prop:][: cfg.max_validation_per_side]
    half = len(held) // 2
    return perm[:n_prop], held[:half], held[half:]


def best_of_each_source(order: Sequence[int], sources: Sequence[str | None], k: int) -> list[int]:
    """The first k of ``order`` (best first), except that each source's best candidate is among them.

    The embedding ranker sees topics: on the planted form differences its AUROC for hypotheses such as
    "expresses a personal opinion" or "expresses uncertainty" was no better than chance on 7 + 7 texts, so
    the candidates of the form views (sentences, words) lost their slots to topical guesses. Each view is
    separate evidence; its best reading is confirmed, and the rest of the slots go by rank. The result
    keeps ``order``'s order. Statistics are unaffected: only the confirm split is tested, and BH counts
    every candidate.
    """
    order = list(order)
    chosen: list[int] = []
    for i in order:
        if len(chosen) < k and sources[i] is not None and all(sources[j] != sources[i] for j in chosen):
            chosen.append(i)
    chosen += [i for i in order if i not in chosen][: k - len(chosen)]
    return sorted(chosen, key=order.index)


def quota_sources(sources: Sequence[str | None]) -> list[str | None]:
    """Sources as the one-place-per-source rule counts them: an abstraction of the whole-text contrasts'
    candidates competes with them for their place (the ranker sees topics, so it ranks both fairly)."""
    return ["whole" if s == ABSTRACTION_SOURCE else s for s in sources]


def bh_qvalues(p_values: list[float], m: int) -> list[float]:
    """BH q-values of the given p-values among m tests in all (the rest count as p = 1)."""
    if not p_values:
        return []
    padded = np.r_[np.asarray(p_values, float), np.ones(max(0, m - len(p_values)))]
    return stats.false_discovery_control(padded, method="bh")[: len(p_values)].tolist()


def ranker_aurocs(sa: np.ndarray, sb: np.ndarray) -> list[float]:
    """Per candidate (row), the AUROC of its scores on set A's texts against set B's: the cheap ranker's order."""
    labels = np.r_[np.ones(sa.shape[1]), np.zeros(sb.shape[1])]
    return [float(roc_auc_score(labels, np.r_[sa[i], sb[i]])) for i in range(len(sa))]


def record_ranking(records: list[CandidateFate], aurocs: Sequence[float], passed: Sequence[int]) -> None:
    """Write each candidate's ranker AUROC into its fate record and mark those that passed as ranked."""
    for i, r in enumerate(records):
        r.ranker_auroc = round(aurocs[i], 4)
        if i in passed:
            r.stage_reached = "ranked"


def record_screen(records: list[CandidateFate], passed: Sequence[int], st) -> None:
    """Write what successive elimination did with each screened candidate into its fate record."""
    for j, i in enumerate(passed):
        r = records[i]
        r.stage_reached = "screened"
        r.screen_validity = round(st.validity(j), 4)
        r.screen_judgments = len(st.scores_a[j]) + len(st.scores_b[j])
        r.eliminated_round = st.eliminated_at[j]


def held_out_fields(s, q: float, alpha: float, floor: float) -> dict:
    """A HeldOutStats row's fields from a pair score and its q-value (significant: q < alpha and V > floor)."""
    return dict(hypothesis=s.hypothesis, validity=round(s.validity, 4), p_value=s.p_value, q_value=q,
                ci=(round(s.ci[0], 4), round(s.ci[1], 4)), auroc=round(s.auroc, 4), mean_a=round(s.mean_a, 4),
                mean_b=round(s.mean_b, 4), n_a=s.n_a, n_b=s.n_b, significant=bool(q < alpha and s.validity > floor))


def _examples(texts: Sequence[str], scores: np.ndarray, k: int, clip: int = 400) -> list[Example]:
    order = np.argsort(-scores, kind="stable")[:k]
    return [Example(text=texts[i][:clip], score=round(float(scores[i]), 4)) for i in order]


@dataclass
class _Job:
    """What every exit of run_diff needs to build its DiffResult."""

    cfg: DiffConfig
    goal: Goal | None
    backend: LLMBackend | None
    meter: CostMeter
    sep: Separability | None = None
    splits: Splits | None = None
    cands: list[str] = field(default_factory=list)
    records: list[CandidateFate] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_diff(a: Sequence[str], b: Sequence[str], goal: Goal | None = None, config: DiffConfig | None = None, *,
             backend: LLMBackend | None, embedder: Embedder | None, candidates: Sequence[str] | None = None,
             progress: Progress | None = None, resume: dict | None = None,
             on_checkpoint: Checkpoint | None = None) -> DiffResult:
    """Discover what is more often true of ``a`` than of ``b``.

    ``candidates`` skips the proposer (re-ranking given hypotheses, as the benchmark does).
    ``on_checkpoint`` receives the proposer's output when it is done; passing those checkpoints back
    as ``resume`` (same inputs and seed) skips the proposer, the slowest generation step, after a crash.
    """
    cfg = config or DiffConfig()
    progress = progress or no_progress
    req = DiffRequest.model_construct(a=a, b=b, goal=goal, hypotheses=None if candidates is None else list(candidates),
                                      config=cfg)
    check_diff(req, NoLimits())
    a, b = [t for t in a if t.strip()], [t for t in b if t.strip()]
    needs = diff_needs(req)
    if needs.llm and backend is None:
        raise DiffInputError(f"the {cfg.verifier} verifier needs an LLM backend")
    if embedder is None and embedder_required(cfg):
        raise DiffInputError("this configuration needs the sentence embedder (features=embedding or an embedding ranker)")
    job = _Job(cfg, goal, backend, CostMeter(backend, embedder))
    meter, warnings = job.meter, job.warnings
    rng = np.random.default_rng(cfg.seed)

    with meter.stage("split"):
        prop_a, scr_a, con_a = split_indices(len(a), cfg, rng)
        prop_b, scr_b, con_b = split_indices(len(b), cfg, rng)
        pa_texts, pb_texts = [a[i] for i in prop_a], [b[i] for i in prop_b]
        if cfg.verifier == "cascade":
            val_a, val_b = [a[i] for i in con_a], [b[i] for i in con_b]
        else:  # one held-out set, judged in full
            val_a, val_b = [a[i] for i in scr_a + con_a], [b[i] for i in scr_b + con_b]
        scr_a_t, scr_b_t = [a[i] for i in scr_a], [b[i] for i in scr_b]
        job.splits = Splits(proposal_a=len(prop_a), proposal_b=len(prop_b), screen_a=len(scr_a), screen_b=len(scr_b),
                            confirm_a=len(con_a), confirm_b=len(con_b))

    with meter.stage("represent"):
        progress(DiffStage.REPRESENT, 0, 1)
        if cfg.features == "embedding":
            xa, xb = embedder.encode(pa_texts), embedder.encode(pb_texts)
        else:
            xa, xb = tfidf_features(pa_texts, pb_texts)
        sep = job.sep = separability(xa, xb, seed=cfg.seed, features=cfg.features)
        progress(DiffStage.REPRESENT, 1, 1)
        if min(len(pa_texts), len(pb_texts)) < MIN_FOR_SEPARABILITY:
            warnings.append(f"only {min(len(pa_texts), len(pb_texts))} proposal texts on the smaller side: the "
                            "separability estimate (cross-validated AUROC) is unreliable at this size")
        elif sep.cv_auroc < 0.6:
            warnings.append(f"the corpora are barely distinguishable (cross-validated AUROC {sep.cv_auroc:.2f}); "
                            "expect weak or no hypotheses")

    resumed = (resume or {}).get("propose")
    if candidates is None and resumed is not None:
        cands, job.replies = list(resumed["candidates"]), list(resumed.get("replies", []))
        sources = list(resumed.get("sources") or [None] * len(cands))
        warnings.append("resumed after an interruption: the proposer's checkpointed candidates were reused")
    elif candidates is None:
        with meter.stage("propose"):
            cands, job.replies, sources = [], [], []
            if cfg.proposer in ("contrast", "both"):
                contrast = propose_from_contrasts(
                    backend, pa_texts, pb_texts, xa, xb, sep.order_a(), sep.order_b(),
                    ContrastConfig(n_clusters=cfg.contrast_clusters, views=tuple(cfg.contrast_views)), cfg.seed, goal_text=render_goal(goal),
                    progress=lambda d, t: progress(DiffStage.PROPOSE_CONTRASTS, d, t),
                    encode=embedder.encode if embedder is not None else None)
                cands += contrast.candidates
                sources += contrast.sources
                job.replies += contrast.raw_replies
            if cfg.proposer in ("llm", "both"):
                per_prompt = min(cfg.per_prompt, cfg.n_candidates)
                pcfg = ProposerConfig(n_prompts=prompts_needed(cfg.n_candidates, per_prompt), per_prompt=per_prompt,
                                      samples_per_side=cfg.samples_per_side, sample_chars=cfg.sample_chars,
                                      temperature=cfg.proposer_temperature)
                proposal = propose(backend, pa_texts, pb_texts, sep.order_a(), sep.order_b(), goal, pcfg, cfg.seed,
                                   progress=lambda d, t: progress(DiffStage.PROPOSE, d, t))
                new = [h for h in proposal.candidates if h not in cands]
                cands += new
                sources += ["llm"] * len(new)
                job.replies += proposal.raw_replies
        if on_checkpoint is not None:
            on_checkpoint("propose", {"candidates": list(cands), "replies": list(job.replies), "sources": list(sources)})
    else:
        cands = [c.strip() for c in candidates if c.strip()]
        sources = [None] * len(cands)
    if cfg.abstraction and candidates is None and cands:
        # after the checkpoint: a resumed job abstracts again (one short prompt) rather than trusting old output
        with meter.stage("abstract"):
            progress(DiffStage.ABSTRACT, 0, 1)
            new = abstract_candidates(backend, cands, sources, seed=cfg.seed)
            cands, sources = cands + new, sources + [ABSTRACTION_SOURCE] * len(new)
            progress(DiffStage.ABSTRACT, 1, 1)
    if not cands:
        raise DiffInputError("the proposer returned no usable hypotheses",
                             fix="try a larger model, another seed, or pass candidate hypotheses")

    with meter.stage("dedupe"):
        if embedder is not None and cfg.dedupe_threshold < 1.0:
            cand_emb = embedder.encode(cands)
            keep = greedy_dedupe(cands, cand_emb, cfg.dedupe_threshold)
            if len(keep) < len(cands):
                cands, cand_emb, sources = [cands[i] for i in keep], cand_emb[keep], [sources[i] for i in keep]
        else:
            cand_emb = None
    records = [CandidateFate(hypothesis=h, source=src, stage_reached="proposed") for h, src in zip(cands, sources)]
    job.cands, job.records = cands, records
    judge = (LLMJudge(backend, max_text_chars=cfg.judge_max_chars, order=cfg.judge_order)
             if backend is not None else None)

    # --- ranking and verification -------------------------------------------------------------
    if cfg.verifier == "proposer":
        chosen = list(range(len(cands)))[: cfg.top_k]
        hyps = [HypothesisResult(hypothesis=cands[i]) for i in chosen]
        return _result(job, hyps, "none")

    if cfg.verifier == "embedding":
        with meter.stage("rank"):
            ta, tb = embedder.encode(val_a), embedder.encode(val_b)
            sa, sb = similarity(cand_emb, ta), similarity(cand_emb, tb)
        scored = list(range(len(cands)))
        return _final(job, scored, sa, sb, val_a, val_b, "cosine")

    if cfg.verifier == "exhaustive":
        with meter.stage("confirm"):
            total = len(cands) * (len(val_a) + len(val_b))
            pa = judge.score(cands, val_a, progress=lambda d, t: progress(DiffStage.JUDGE, d, total))
            pb = judge.score(cands, val_b, progress=lambda d, t: progress(DiffStage.JUDGE, len(cands) * len(val_a) + d, total))
        for r in records:
            r.stage_reached = "confirmed"
        return _final(job, list(range(len(cands))), pa, pb, val_a, val_b, "p_yes", judge)

    # cascade
    with meter.stage("rank"):
        progress(DiffStage.RANK, 0, 1)
        ea, eb = embedder.encode(scr_a_t), embedder.encode(scr_b_t)
        sa, sb = similarity(cand_emb, ea), similarity(cand_emb, eb)
        ranker_auroc = ranker_aurocs(sa, sb)
        order = sorted(range(len(cands)), key=lambda i: -ranker_auroc[i])
        quota = quota_sources(sources)
        passed = best_of_each_source(order, quota, cfg.ranker_keep)
        record_ranking(records, ranker_auroc, passed)
        progress(DiffStage.RANK, 1, 1)

    with meter.stage("screen"):
        def score_fn(active: list[int], ia: list[int], ib: list[int]):
            hyps = [cands[passed[j]] for j in active]
            pa = judge.score(hyps, [scr_a_t[i] for i in ia]) if ia else np.zeros((len(hyps), 0))
            pb = judge.score(hyps, [scr_b_t[i] for i in ib]) if ib else np.zeros((len(hyps), 0))
            return pa, pb

        if len(passed) <= cfg.top_k or min(len(scr_a_t), len(scr_b_t)) < MIN_SCREEN_PER_SIDE:
            # Nothing to choose, or too few texts to choose by: the ranker's best go on to confirmation.
            # Judging them on the screen split first would spend a text's prefill (most of a
            # judgment's cost) twice for a choice that a handful of texts cannot make reliably.
            finalists = best_of_each_source(passed, quota, cfg.top_k)
            if len(passed) > cfg.top_k:
                warnings.append(f"the screen split has {min(len(scr_a_t), len(scr_b_t))} texts on its smaller side "
                                f"(fewer than {MIN_SCREEN_PER_SIDE}): the embedding ranker chose the "
                                f"{cfg.top_k} candidates confirmed")
        else:
            st = successive_elimination(len(passed), range(len(scr_a_t)), range(len(scr_b_t)), score_fn,
                                        keep=cfg.top_k, batch=cfg.screen_batch, level=cfg.screen_level,
                                        progress=lambda d, t: progress(DiffStage.SCREEN, d, t))
            record_screen(records, passed, st)
            survivors = sorted(st.active, key=lambda j: -st.validity(j))[: cfg.top_k]
            finalists = [passed[j] for j in survivors]
        if not finalists:
            warnings.append("every screened candidate was confidently not more often true of A; nothing to confirm")

    with meter.stage("confirm"):
        hyps = [cands[i] for i in finalists]
        total = len(hyps) * (len(val_a) + len(val_b))
        pa = judge.score(hyps, val_a, progress=lambda d, t: progress(DiffStage.CONFIRM, d, total))
        pb = judge.score(hyps, val_b, progress=lambda d, t: progress(DiffStage.CONFIRM, len(hyps) * len(val_a) + d, total))
        for i in finalists:
            records[i].stage_reached = "confirmed"
    full_a = np.zeros((len(cands), len(val_a)))
    full_b = np.zeros((len(cands), len(val_b)))
    full_a[finalists], full_b[finalists] = pa, pb
    return _final(job, finalists, full_a, full_b, val_a, val_b, "p_yes", judge)


def _final(job: _Job, tested: list[int], sa: np.ndarray, sb: np.ndarray, val_a: Sequence[str], val_b: Sequence[str],
           kind: str, judge: LLMJudge | None = None) -> DiffResult:
    """Statistics on the held-out scores of the tested candidates; BH over every candidate."""
    cfg, cands = job.cfg, job.cands
    floor = cfg.min_validity if kind == "p_yes" else 0.0
    scores = [score_pair(cands[i], sa[i], sb[i]) for i in tested]
    qs = bh_qvalues([s.p_value for s in scores], m=len(cands))
    rows = []
    for i, s, q in zip(tested, scores, qs):
        rows.append(HypothesisResult(
            **held_out_fields(s, q, cfg.alpha, floor), support=_examples(val_a, sa[i], cfg.support_examples),
            counter_examples=_examples(val_b, sb[i], cfg.support_examples)))
    # cosine scores are not probabilities, so the ranker's order is by AUROC, the judge's by validity
    rows.sort(key=(lambda r: -r.auroc) if kind == "cosine" else (lambda r: -r.validity))
    if judge is not None and judge.truncated:
        job.warnings.append(f"{judge.truncated} judged texts were longer than {cfg.judge_max_chars} characters "
                            "and were clipped")
    return _result(job, rows[: cfg.top_k], kind)


def _result(job: _Job, rows: list[HypothesisResult], kind: str) -> DiffResult:
    sep = job.sep
    return DiffResult(
        hypotheses=rows, candidates=job.records,
        separability=Separation(cv_auroc=round(sep.cv_auroc, 4), verdict=sep.verdict, folds=sep.folds,
                                features=sep.features),
        splits=job.splits, goal=render_goal(job.goal) or None, config=job.cfg, seed=job.cfg.seed,
        backend=getattr(job.backend, "name", None), model=getattr(job.backend, "model", None), score_kind=kind,
        cost=job.meter.cost, proposer_replies=job.replies, warnings=job.warnings)


def run_null_check(texts: Sequence[str], config: DiffConfig | None = None, *, backend, embedder,
                   candidates: Sequence[str] | None = None, progress: Progress | None = None) -> DiffResult:
    """A/A control: two random halves of one corpus. A sound pipeline reports nothing significant here."""
    cfg = config or DiffConfig()
    a, b = aa_halves(texts, cfg.seed)
    return run_diff(a, b, None, cfg, backend=backend, embedder=embedder, candidates=candidates, progress=progress)


def aa_halves(texts: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """Two random halves of one corpus' non-empty texts: the A/A control's two 'corpora'."""
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    perm = np.random.default_rng([seed, 7]).permutation(len(texts))
    half = len(texts) // 2
    return [texts[i] for i in perm[:half]], [texts[i] for i in perm[half:]]
