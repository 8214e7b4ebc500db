"""Research goals: a free string, or D5's structured form.

D5 conditions the proposer on what the user wants to learn (a historian
studying news trends wants topics, not punctuation). Both forms render to one
paragraph placed before the samples.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ResearchGoal(BaseModel):
    """D5's structured goal (OpenD5 ``pairs.yaml`` fields)."""

    model_config = ConfigDict(extra="forbid")

    dataset_description: str | None = Field(None, description="what the texts are, e.g. 'ABC news headlines'")
    generation: str | None = Field(None, description="how the two groups were formed, e.g. 'the year they were published'")
    user: str | None = Field(None, description="who is asking, e.g. 'a historian writing about trends'")
    target: str | None = Field(None, description="what they want to learn, e.g. 'which news categories dominate'")
    a_description: str | None = Field(None, description="what group A is, e.g. 'headlines from 2007'")
    b_description: str | None = Field(None, description="what group B is, e.g. 'headlines from 2008'")

    def render(self) -> str:
        parts = []
        if self.dataset_description:
            parts.append(f"The texts are {self.dataset_description.rstrip('.')}.")
        if self.generation:
            parts.append(f"The two groups were formed by {self.generation.rstrip('.')}.")
        if self.a_description and self.b_description:
            parts.append(f"Group A texts {self.a_description.rstrip('.')}; group B texts {self.b_description.rstrip('.')}.")
        if self.user and self.target:
            parts.append(f"I am {self.user.rstrip('.')}, and I want to know {self.target.rstrip('.')}.")
        elif self.target:
            parts.append(f"I want to know {self.target.rstrip('.')}.")
        return " ".join(parts)


Goal = str | ResearchGoal


def render_goal(goal: Goal | None) -> str:
    if goal is None:
        return ""
    text = goal.render() if isinstance(goal, ResearchGoal) else goal.strip()
    return text
