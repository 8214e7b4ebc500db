"""The image-set-difference workflow's contract (VisDiff): request, config, result and limits models,
stages, input checks and engine needs (its CLI, page and examples are in
:mod:`hypodisc.workflows.image_diff_surfaces`; the computation in :mod:`hypodisc.workflows.image_diff`).

Images travel as base64 in JSON (``ImageInput``) so a job is one stored request, as every other
workflow's is; ``POST /v1/jobs/image-diff/files`` takes them as multipart files or zips.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hypodisc.errors import InputRejected
from hypodisc.proposers.goal import ResearchGoal
from hypodisc.workflows.contract import Needs, Workflow
from hypodisc.workflows.cost import Cost
from hypodisc.workflows.diff_models import CandidateFate, HeldOutStats, Splits
from hypodisc.workflows.image_diff_surfaces import IMAGE_DIFF_SURFACES

#: some images to show the proposer, some to screen on, some held out to confirm on
MIN_IMAGES_PER_SIDE = 6

Captioner = Literal["detectors", "given", "openai", "vllm", "llamacpp"]
Ranker = Literal["caption-judge", "detectors", "clip"]


class ImageDiffConfig(BaseModel):
    """Every knob of an image-diff job. Defaults suit the offline CPU default (detectors + the embedded LLM)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    top_k: int = Field(5, ge=1, le=50, description="hypotheses reported")
    captioner: Captioner = Field("detectors", description=(
        "how images become text for the proposer and the caption judge: detectors (offline default: OpenCV faces/"
        "eyes/smiles/cat faces/bodies, RapidOCR text, measured colours, brightness, clutter and object count, as "
        "sentences), given (the captions supplied with the images), openai (an OpenAI-compatible vision endpoint, "
        "caption_base_url + caption_model), vllm (a local multimodal checkpoint in caption_model through vLLM), "
        "llamacpp (a local GGUF VLM in caption_model plus its caption_mmproj)"))
    caption_model: str | None = Field(None, description=(
        "openai: the served model's name; vllm: a local checkpoint folder; llamacpp: a .gguf file "
        "(default: HYPODISC_CAPTION_MODEL)"))
    caption_mmproj: str | None = Field(None, description="llamacpp: the model's mmproj .gguf (default: HYPODISC_CAPTION_MMPROJ)")
    caption_handler: str = Field("llava15", description="llamacpp: the multimodal chat handler (llava15, qwen25vl, ...)")
    caption_base_url: str | None = Field(None, description="openai: the server URL ending in /v1 (default: HYPODISC_CAPTION_BASE_URL)")
    caption_prompt: str = Field("Describe this image in detail.", description="what model captioners are asked (VisDiff's)")
    ranker: Ranker = Field("caption-judge", description=(
        "how each hypothesis is scored per image: caption-judge (the LLM's P(yes) on the image's caption, "
        "VisDiff's LLM ranker), detectors (a direct measurement where a detector covers the hypothesis: faces, "
        "smiles, text, colours, brightness, clutter, object count; the caption judge for the rest), clip "
        "(image-text cosine from clip_checkpoint)"))
    clip_checkpoint: str | None = Field(None, description=(
        "clip ranker: a local Hugging Face CLIP/SigLIP folder, or open_clip:ARCH:FILE (default: HYPODISC_CLIP_CHECKPOINT)"))
    rounds: int = Field(3, ge=1, le=10, description="proposer rounds, each on a fresh sample of captions (VisDiff: 3)")
    samples_per_round: int = Field(12, ge=2, le=40, description="captions per set shown in one proposer round")
    per_round: int = Field(8, ge=1, le=30, description="hypotheses asked for per round")
    sample_chars: int = Field(300, ge=40, le=2000, description="each caption clipped to this many characters")
    proposer_temperature: float = Field(0.7, ge=0.0, le=2.0)
    caption_words: bool = Field(True, description=(
        "also propose the words found in most of A's captions and few of B's (with their counts) as literal "
        "hypotheses 'shows <word>': the detectors' vocabulary is small, so its differences often show as words"))
    ranker_keep: int = Field(8, ge=1, le=100, description="candidates the cheap screen passes to the ranker")
    proposal_fraction: float = Field(0.3, gt=0.0, lt=1.0, description="share of each set shown to the proposer")
    max_proposal_per_side: int = Field(40, ge=2, description="cap on the proposal split per side")
    max_validation_per_side: int = Field(200, ge=2, description="cap on held-out images per side")
    screen_batch: int = Field(8, ge=1, description="screen: images per side judged per elimination round")
    screen_level: float = Field(0.9, gt=0.5, lt=1.0, description="screen: confidence level of elimination bounds")
    dedupe_threshold: float = Field(0.9, gt=0.0, le=1.0, description="cosine above which candidates are duplicates")
    judge_max_chars: int = Field(600, ge=50, description="captions clipped to this many characters for the judge")
    support_examples: int = Field(4, ge=0, le=20, description="supporting and counter images shown per hypothesis")
    thumbnail_px: int = Field(128, ge=32, le=512, description="longest side of the result's thumbnails")
    alpha: float = Field(0.05, gt=0.0, lt=1.0, description="q-value threshold called significant")
    min_validity: float = Field(0.05, ge=0.0, lt=1.0, description=(
        "caption judge and detectors: the smallest V called significant (CLIP cosines are held to V > 0 only)"))
    seed: int = 0


class ImageInput(BaseModel):
    """One image: its file bytes as base64 (or a data: URL), a name, and optionally a caption."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., max_length=300)
    data: str = Field(..., description="the image file (PNG, JPEG, GIF, BMP, WebP) as base64 or a data: URL")
    caption: str | None = Field(None, description="a given caption (alt text, dataset caption): the 'given' captioner")


class ImageDiffRequest(BaseModel):
    """What a user submits: two image sets, an optional goal, and the config."""

    model_config = ConfigDict(extra="forbid")

    a: list[ImageInput] = Field(..., description="image set A")
    b: list[ImageInput] = Field(..., description="image set B")
    goal: str | ResearchGoal | None = None
    hypotheses: list[str] | None = Field(None, description="skip the proposer and rank these hypotheses instead")
    config: ImageDiffConfig = ImageDiffConfig()


class ImageExample(BaseModel):
    """An image that bears on a hypothesis, with the score the ranker gave it."""

    set: Literal["a", "b"]
    index: int = Field(..., description="position in its set as submitted")
    name: str
    caption: str | None = None
    score: float
    thumbnail: str = Field(..., description="a small JPEG as a data: URL")


class ImageHypothesis(HeldOutStats):
    scored_by: str = Field(..., description="caption-judge, detectors or clip")
    support: list[ImageExample] = Field([], description="A images that score highest")
    counter_examples: list[ImageExample] = Field([], description="B images that score highest: where it fails")


class CaptionedImage(BaseModel):
    set: Literal["a", "b"]
    index: int
    name: str
    split: Literal["proposal", "screen", "confirm", "unused"]
    caption: str


class ImageDiffResult(BaseModel):
    workflow: Literal["image-diff"] = "image-diff"
    hypotheses: list[ImageHypothesis]
    candidates: list[CandidateFate]
    captions: list[CaptionedImage] = Field([], description="every image's caption, for auditing the proposer")
    splits: Splits
    goal: str | None
    config: ImageDiffConfig
    seed: int
    captioner: str
    ranker: str
    backend: str | None
    model: str | None
    cost: Cost
    proposer_replies: list[str] = []
    warnings: list[str] = []


class ImageDiffLimits(BaseModel):
    """What the service accepts in one image-diff job (None: unlimited); ``HYPODISC_SERVICE_<NAME>`` sets each."""

    max_images_per_set: int | None = Field(500, ge=1, description="images in one set")
    max_image_bytes: int | None = Field(8_000_000, ge=1, description="largest single image file")
    max_image_pixels: int | None = Field(40_000_000, ge=1, description="largest image, width x height")


class ImageDiffStage(StrEnum):
    CAPTION = "captioning"
    PROPOSE = "proposing"
    RANK = "cheap screen"
    SCREEN = "screening"
    CONFIRM = "confirming"


def image_diff_needs(req: ImageDiffRequest) -> Needs:
    """The LLM proposes and judges captions; the embedder dedupes and screens; a clip ranker is an engine too."""
    cfg = req.config
    if req.hypotheses is None or cfg.ranker == "caption-judge":
        llm = True
    elif cfg.ranker == "detectors":  # only for the hypotheses no detector covers
        from hypodisc.backends.image_detectors import fact_scorer

        llm = any(fact_scorer(h) is None for h in req.hypotheses if h.strip())
    else:
        llm = False
    return Needs(llm=llm,
                 embedder=True, image_ranker=cfg.ranker == "clip",
                 captioner=cfg.captioner in ("openai", "vllm", "llamacpp"))


def check_set(name: str, items, limits, captioner: str) -> None:
    """A set's count, and its captions when the given captioner needs them (items: anything with .name and
    .caption), before any image is decoded."""
    limit = limits.max_images_per_set
    if limit is not None and len(items) > limit:
        raise InputRejected(f"set {name} has {len(items)} images; the limit is {limit}", code="too_many_images",
                            status=413)
    if len(items) < MIN_IMAGES_PER_SIDE:
        raise InputRejected(f"set {name} has {len(items)} images; at least {MIN_IMAGES_PER_SIDE} are needed "
                            "(some to show the proposer, some held out to test on)",
                            fix=f"give set {name} more images", code="too_few_images")
    if captioner == "given":
        missing = [i.name for i in items if not (i.caption or "").strip()]
        if missing:
            raise InputRejected(f"set {name}: the given captioner needs a caption for every image; "
                                f"{len(missing)} have none (first: {missing[0]!r})", code="missing_caption")


def wire_rows(items) -> list[dict]:
    """A set as wire dicts, whether it holds ImageInput models or (from the CLI's unvalidated request) dicts."""
    return [i.model_dump() if isinstance(i, BaseModel) else ImageInput.model_validate(i).model_dump() for i in items]


def check_hypotheses(hypotheses: list[str] | None) -> None:
    if hypotheses is not None and not any(h.strip() for h in hypotheses):
        raise InputRejected("hypotheses is given but holds no non-empty hypothesis", code="no_hypotheses")


def check_image_diff(req: ImageDiffRequest, limits: ImageDiffLimits) -> None:
    """Counts and captions first, then every image decodes within the size limits (all or nothing)."""
    from hypodisc.datasets.images import decode_set, from_wire

    sets = {"A": from_wire(wire_rows(req.a)), "B": from_wire(wire_rows(req.b))}
    for name, items in sets.items():
        check_set(name, items, limits, req.config.captioner)
    check_hypotheses(req.hypotheses)
    for name, items in sets.items():
        decode_set(items, name, max_images=limits.max_images_per_set,
                   max_bytes=limits.max_image_bytes, max_pixels=limits.max_image_pixels)


IMAGE_DIFF = Workflow(
    name="image-diff", summary="Image-set differences (VisDiff): what is more often true of image set A than of B",
    request_model=ImageDiffRequest, config_model=ImageDiffConfig, result_model=ImageDiffResult,
    stages=ImageDiffStage,
    stage_spans={ImageDiffStage.CAPTION: (0.0, 0.25), ImageDiffStage.PROPOSE: (0.25, 0.45),
                 ImageDiffStage.RANK: (0.45, 0.5), ImageDiffStage.SCREEN: (0.5, 0.75),
                 ImageDiffStage.CONFIRM: (0.75, 1.0)},
    needs=image_diff_needs, limits=ImageDiffLimits, check=check_image_diff,
    runner="hypodisc.workflows.image_diff:run_image_diff_job", surfaces=IMAGE_DIFF_SURFACES)
