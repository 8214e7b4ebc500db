"""Proposers: LLM prompts that read samples and write candidate hypotheses. Lands with the diff workflow."""
