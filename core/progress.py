"""Progress callbacks: one signature for a job's stages, one for the steps inside a stage."""

from __future__ import annotations

from collections.abc import Callable

#: progress(stage, done, total): what workflows, collectors and the service report through; it may
#: raise to stop the work (the service's cancel does)
Progress = Callable[[str, int, int], None]
#: steps(done, total): a loop inside one stage (judging, scoring); its caller names the stage
Steps = Callable[[int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """The progress callback of a caller that does not follow progress."""
