"""hypodisc: natural-language hypothesis discovery.

A proposer LLM writes candidate hypotheses, a verifier checks them against many
samples, and statistics keep only what holds up. Every workflow talks to its LLM
through one protocol, :class:`hypodisc.backends.LLMBackend`.
"""

__version__ = "0.1.0"
