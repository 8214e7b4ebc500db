"""Image-set differences (VisDiff): what is more often true of image set A than of set B?

VisDiff captions images, asks an LLM for differences between the caption sets, and sorts hypotheses by
CLIP AUROC on the same images it proposed from. We keep its captioner -> proposer -> ranker shape and
the text-difference discipline around it:

1. split each set at random (seeded) into proposal / screen / confirm images;
2. caption every image (detectors offline, given captions, or a VLM);
3. propose from fresh samples of the proposal captions, several rounds, with the text clean-up;
4. a cheap screen (caption embeddings, or the CLIP/detector scores themselves) keeps the most promising,
   the ranker screens those with successive elimination on the screen images;
5. the survivors are scored once more on the untouched confirm images, which alone give the reported
   validity, Welch p, CI, AUROC and BH q-values (over every candidate), with thumbnails of the images
   that support each hypothesis in A and the counter-examples in B.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hypodisc.backends.base import LLMBackend
from hypodisc.backends.image_detectors import ImageFacts, describe, detect, fact_scorer
from hypodisc.datasets.images import ImageItem, decode_set, from_wire, thumbnail_data_url
from hypodisc.errors import InputRejected
from hypodisc.proposers.goal import render_goal
from hypodisc.proposers.image_proposer import propose_from_captions
from hypodisc.verifiers.embedding import greedy_dedupe, similarity
from hypodisc.verifiers.llm_judge import LLMJudge
from hypodisc.verifiers.pair_stats import score_pair
from hypodisc.verifiers.sequential import successive_elimination
from hypodisc.workflows.contract import Checkpoints, Engines, NoLimits, Progress, no_progress
from hypodisc.workflows.cost import CostMeter
from hypodisc.workflows.diff import (MIN_SCREEN_PER_SIDE, bh_qvalues, held_out_fields, ranker_aurocs,
                                     record_ranking, record_screen, split_indices)
from hypodisc.workflows.diff_models import CandidateFate, Splits
from hypodisc.workflows.image_diff_models import (
    CaptionedImage,
    ImageDiffConfig,
    ImageDiffRequest,
    ImageDiffResult,
    ImageDiffStage,
    ImageExample,
    ImageHypothesis,
    check_hypotheses,
    check_set,
    image_diff_needs,
    wire_rows,
)

#: scores(hypotheses, image indices in one set's list) -> (len(hypotheses), len(indices))
Scorer = Callable[[Sequence[str], str, Sequence[int]], np.ndarray]


class ImageDiffError(InputRejected):
    """An image-diff job its inputs cannot support (no engine for this config, nothing usable proposed)."""


def run_image_diff_job(req: ImageDiffRequest, engines: Engines, progress: Progress,
                       checkpoints: Checkpoints) -> ImageDiffResult:
    """The workflow as the registry runs it: the engines the request needs, then :func:`run_image_diff`."""
    needs = image_diff_needs(req)
    cfg = req.config
    models = engines.get("captioner") if (needs.captioner or needs.image_ranker) else None
    return run_image_diff(
        from_wire(wire_rows(req.a)), from_wire(wire_rows(req.b)), req.goal, cfg,
        backend=engines.llm() if needs.llm else None, embedder=engines.embedder() if needs.embedder else None,
        captioner=models.captioner(cfg) if needs.captioner else None,
        clip=models.clip(cfg) if needs.image_ranker else None,
        candidates=req.hypotheses, progress=progress, checkpoints=checkpoints)


@dataclass
class _Sets:
    """Both sets' decoded images, captions and (lazily) detector facts, addressed as (set, index)."""

    items: dict[str, list[ImageItem]]
    images: dict[str, list]
    captions: dict[str, list[str]] = field(default_factory=dict)
    facts: dict[tuple[str, int], ImageFacts] = field(default_factory=dict)
    thumbnails: dict[tuple[str, int, int], str] = field(default_factory=dict)

    def fact(self, side: str, i: int) -> ImageFacts:
        if (side, i) not in self.facts:
            self.facts[side, i] = detect(self.images[side][i])
        return self.facts[side, i]

    def thumbnail(self, side: str, i: int, px: int) -> str:
        """An image's thumbnail, encoded once however many hypotheses show it."""
        if (side, i, px) not in self.thumbnails:
            self.thumbnails[side, i, px] = thumbnail_data_url(self.images[side][i], px)
        return self.thumbnails[side, i, px]


def _caption(sets: _Sets, cfg: ImageDiffConfig, captioner, progress: Progress) -> None:
    total = sum(len(v) for v in sets.images.values())
    done = 0
    for side in ("a", "b"):
        if cfg.captioner == "given":
            sets.captions[side] = [(it.caption or "").strip() for it in sets.items[side]]
        elif cfg.captioner == "detectors":
            caps = []
            for i in range(len(sets.images[side])):
                caps.append(describe(sets.fact(side, i)))
                done += 1
                progress(ImageDiffStage.CAPTION, done, total)
            sets.captions[side] = caps
        else:
            offset = done
            sets.captions[side] = [c.strip() for c in captioner.caption(
                sets.images[side], progress=lambda d, t: progress(ImageDiffStage.CAPTION, offset + d, total))]
            done += len(sets.images[side])
    progress(ImageDiffStage.CAPTION, total, total)


def run_image_diff(a: Sequence[ImageItem], b: Sequence[ImageItem], goal=None, config: ImageDiffConfig | None = None, *,
                   backend: LLMBackend | None, embedder, captioner=None, clip=None,
                   candidates: Sequence[str] | None = None, progress: Progress | None = None,
                   checkpoints: Checkpoints | None = None) -> ImageDiffResult:
    """Discover what is more often true of image set ``a`` than of ``b``.

    ``captioner`` is needed for the model captioners (openai, vllm, llamacpp) and ``clip`` for the clip
    ranker; ``candidates`` skips the proposer. Captions and proposals are checkpointed, so a resumed job
    skips them.
    """
    cfg = config or ImageDiffConfig()
    progress = progress or no_progress
    checkpoints = checkpoints or Checkpoints()
    for name, items in (("A", a), ("B", b)):
        check_set(name, items, NoLimits(), cfg.captioner)
    check_hypotheses(None if candidates is None else list(candidates))
    needs = image_diff_needs(ImageDiffRequest.model_construct(
        a=[], b=[], goal=goal, hypotheses=None if candidates is None else list(candidates), config=cfg))
    if needs.llm and backend is None:
        raise ImageDiffError(f"the {cfg.ranker} ranker and the proposer need an LLM backend")
    if needs.captioner and captioner is None:
        raise ImageDiffError(f"the {cfg.captioner} captioner was not given")
    if needs.image_ranker and clip is None:
        raise ImageDiffError("the clip ranker needs a checkpoint (clip_checkpoint)")
    meter = CostMeter(backend, embedder)
    warnings: list[str] = []
    sets = _Sets(items={"a": list(a), "b": list(b)},
                 images={"a": decode_set(list(a), "A", max_images=None, max_bytes=None, max_pixels=None),
                         "b": decode_set(list(b), "B", max_images=None, max_bytes=None, max_pixels=None)})
    rng = np.random.default_rng(cfg.seed)
    with meter.stage("split"):
        split = {side: split_indices(len(sets.images[side]), cfg, rng) for side in ("a", "b")}
        prop, scr, con = ({s: split[s][k] for s in ("a", "b")} for k in range(3))
        splits = Splits(proposal_a=len(prop["a"]), proposal_b=len(prop["b"]), screen_a=len(scr["a"]),
                        screen_b=len(scr["b"]), confirm_a=len(con["a"]), confirm_b=len(con["b"]))

    saved = checkpoints.saved.get("captions")
    if saved is not None:
        sets.captions = {"a": list(saved["a"]), "b": list(saved["b"])}
        warnings.append("resumed after an interruption: the checkpointed captions were reused")
    else:
        with meter.stage("caption"):
            _caption(sets, cfg, captioner, progress)
        checkpoints.save("captions", dict(sets.captions))

    replies: list[str] = []
    if candidates is not None:
        cands = [c.strip() for c in candidates if c.strip()]
        sources: list[str | None] = [None] * len(cands)
    elif (resumed := checkpoints.saved.get("propose")) is not None:
        cands, sources, replies = list(resumed["candidates"]), list(resumed["sources"]), list(resumed["replies"])
        warnings.append("resumed after an interruption: the proposer's checkpointed candidates were reused")
    else:
        with meter.stage("propose"):
            proposal = propose_from_captions(
                backend, [sets.captions["a"][i] for i in prop["a"]], [sets.captions["b"][i] for i in prop["b"]],
                goal, rounds=cfg.rounds, per_round=cfg.per_round, samples=cfg.samples_per_round,
                chars=cfg.sample_chars, temperature=cfg.proposer_temperature, seed=cfg.seed, words=cfg.caption_words,
                progress=lambda d, t: progress(ImageDiffStage.PROPOSE, d, t))
        cands, sources, replies = proposal.candidates, list(proposal.sources), proposal.raw_replies
        checkpoints.save("propose", {"candidates": cands, "sources": sources, "replies": replies})
    if not cands:
        raise ImageDiffError("the proposer returned no usable hypotheses",
                             fix="try another seed, a model captioner, or pass candidate hypotheses")

    with meter.stage("dedupe"):
        cand_emb = embedder.encode(cands)
        if cfg.dedupe_threshold < 1.0:
            keep = greedy_dedupe(cands, cand_emb, cfg.dedupe_threshold)
            cands, cand_emb, sources = [cands[i] for i in keep], cand_emb[keep], [sources[i] for i in keep]
    records = [CandidateFate(hypothesis=h, source=s, stage_reached="proposed") for h, s in zip(cands, sources)]

    judge = (LLMJudge(backend, max_text_chars=cfg.judge_max_chars, order="question_first")
             if backend is not None else None)
    score, scored_by = _scorer(cfg, sets, judge, clip)

    # --- cheap screen: caption embeddings for the judge, the measurement itself for clip and detectors
    with meter.stage("rank"):
        progress(ImageDiffStage.RANK, 0, 1)
        if cfg.ranker == "clip":
            cheap_a, cheap_b = score(cands, "a", scr["a"]), score(cands, "b", scr["b"])
        else:
            cheap_a = similarity(cand_emb, embedder.encode([sets.captions["a"][i] for i in scr["a"]]))
            cheap_b = similarity(cand_emb, embedder.encode([sets.captions["b"][i] for i in scr["b"]]))
            if cfg.ranker == "detectors":
                for h, hyp in enumerate(cands):
                    if fact_scorer(hyp) is not None:
                        cheap_a[h], cheap_b[h] = score([hyp], "a", scr["a"])[0], score([hyp], "b", scr["b"])[0]
        cheap_auroc = ranker_aurocs(np.asarray(cheap_a), np.asarray(cheap_b))
        passed = sorted(range(len(cands)), key=lambda h: -cheap_auroc[h])[: cfg.ranker_keep]
        record_ranking(records, cheap_auroc, passed)
        progress(ImageDiffStage.RANK, 1, 1)

    with meter.stage("screen"):
        if len(passed) <= cfg.top_k or min(len(scr["a"]), len(scr["b"])) < MIN_SCREEN_PER_SIDE:
            finalists = passed[: cfg.top_k]
            if len(passed) > cfg.top_k:
                warnings.append(f"the screen split has {min(len(scr['a']), len(scr['b']))} images on its smaller side "
                                f"(fewer than {MIN_SCREEN_PER_SIDE}): the cheap screen chose the {cfg.top_k} "
                                "hypotheses confirmed")
        else:
            def score_fn(active: list[int], ia: list[int], ib: list[int]):
                hyps = [cands[passed[j]] for j in active]
                return (score(hyps, "a", [scr["a"][i] for i in ia]) if ia else np.zeros((len(hyps), 0)),
                        score(hyps, "b", [scr["b"][i] for i in ib]) if ib else np.zeros((len(hyps), 0)))

            st = successive_elimination(len(passed), range(len(scr["a"])), range(len(scr["b"])), score_fn,
                                        keep=cfg.top_k, batch=cfg.screen_batch, level=cfg.screen_level,
                                        progress=lambda d, t: progress(ImageDiffStage.SCREEN, d, t))
            record_screen(records, passed, st)
            finalists = [passed[j] for j in sorted(st.active, key=lambda j: -st.validity(j))[: cfg.top_k]]
            if not finalists:
                warnings.append("every screened hypothesis was confidently not more often true of A; nothing to confirm")

    with meter.stage("confirm"):
        hyps = [cands[h] for h in finalists]
        progress(ImageDiffStage.CONFIRM, 0, 2)
        pa = score(hyps, "a", con["a"])
        progress(ImageDiffStage.CONFIRM, 1, 2)
        pb = score(hyps, "b", con["b"])
        progress(ImageDiffStage.CONFIRM, 2, 2)
        for h in finalists:
            records[h].stage_reached = "confirmed"

    rows = _statistics(cfg, sets, hyps, pa, pb, con, m=len(cands), scored_by=scored_by)
    split_of = {(s, i): name for name, part in (("proposal", prop), ("screen", scr), ("confirm", con))
                for s in ("a", "b") for i in part[s]}
    captions = [CaptionedImage(set=s, index=i, name=sets.items[s][i].name, split=split_of.get((s, i), "unused"),
                               caption=sets.captions[s][i]) for s in ("a", "b") for i in range(len(sets.items[s]))]
    if judge is not None and judge.truncated:
        warnings.append(f"{judge.truncated} captions were longer than {cfg.judge_max_chars} characters and were clipped")
    return ImageDiffResult(
        hypotheses=rows, candidates=records, captions=captions, splits=splits, goal=render_goal(goal) or None,
        config=cfg, seed=cfg.seed, captioner=cfg.captioner, ranker=cfg.ranker,
        backend=getattr(backend, "name", None), model=getattr(backend, "model", None), cost=meter.cost,
        proposer_replies=replies, warnings=warnings)


def _scorer(cfg: ImageDiffConfig, sets: _Sets, judge: LLMJudge | None, clip) -> tuple[Scorer, Callable[[str], str]]:
    """The ranker as one function over (hypotheses, set, image indices), and what scored each hypothesis."""
    def caption_judge(hyps: Sequence[str], side: str, idx: Sequence[int]) -> np.ndarray:
        return judge.score(list(hyps), [sets.captions[side][i] for i in idx])

    if cfg.ranker == "clip":
        def by_clip(hyps, side, idx):
            return clip.score([clip_text(h) for h in hyps], [sets.images[side][i] for i in idx])

        return by_clip, lambda h: "clip"
    if cfg.ranker == "detectors":
        def by_detectors(hyps, side, idx):
            out = np.zeros((len(hyps), len(idx)))
            judged = [k for k, h in enumerate(hyps) if fact_scorer(h) is None]
            for k, h in enumerate(hyps):
                measure = fact_scorer(h)
                if measure is not None:
                    out[k] = [measure(sets.fact(side, i)) for i in idx]
            if judged:
                out[judged] = caption_judge([hyps[k] for k in judged], side, idx)
            return out

        return by_detectors, lambda h: "detectors" if fact_scorer(h) is not None else "caption-judge"
    return caption_judge, lambda h: "caption-judge"


def clip_text(hypothesis: str) -> str:
    """CLIP was trained on alt text, not properties: 'shows a smiling face' -> 'a photo of a smiling face'."""
    words = hypothesis.split()
    if words and words[0].lower() in ("shows", "contains", "has", "depicts", "features", "includes", "is"):
        words = words[1:]
    return "a photo of " + " ".join(words)


def _statistics(cfg: ImageDiffConfig, sets: _Sets, hyps: list[str], pa: np.ndarray, pb: np.ndarray,
                con: dict[str, list[int]], m: int, scored_by: Callable[[str], str]) -> list[ImageHypothesis]:
    """Welch statistics on the confirm images, BH over all m candidates, thumbnails of the extremes."""
    scores = [score_pair(h, pa[k], pb[k]) for k, h in enumerate(hyps)]
    qs = bh_qvalues([s.p_value for s in scores], m=m)
    rows = []
    for k, (s, q) in enumerate(zip(scores, qs)):
        kind = scored_by(s.hypothesis)
        floor = 0.0 if kind == "clip" else cfg.min_validity
        rows.append(ImageHypothesis(
            **held_out_fields(s, q, cfg.alpha, floor), scored_by=kind, support=_examples(cfg, sets, "a", con["a"], pa[k]),
            counter_examples=_examples(cfg, sets, "b", con["b"], pb[k])))
    # cosines are not probabilities: CLIP's order is by AUROC (as VisDiff's), the judge's and detectors' by V
    rows.sort(key=(lambda r: -r.auroc) if cfg.ranker == "clip" else (lambda r: -r.validity))
    return rows


def _examples(cfg: ImageDiffConfig, sets: _Sets, side: str, idx: list[int], scores: np.ndarray) -> list[ImageExample]:
    order = np.argsort(-scores, kind="stable")[: cfg.support_examples]
    return [ImageExample(set=side, index=idx[j], name=sets.items[side][idx[j]].name,
                         caption=sets.captions[side][idx[j]][:300], score=round(float(scores[j]), 4),
                         thumbnail=sets.thumbnail(side, idx[j], cfg.thumbnail_px)) for j in order]
