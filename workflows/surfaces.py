"""What a workflow declares about its user-facing surfaces, so the CLI, the client, the pages and the
check battery hold no per-workflow code.

Data only (the standard library; functions it names import their own heavy dependencies when
called): the HTTP client imports it through the workflow declarations.

* the **CLI command** is built by :mod:`hypodisc.cli_workflows` from the config model (one option per
  field, its description as help) plus the declared :class:`InputReader` s (the data inputs: corpus
  files, a features file...), :class:`CliOutput` s (extra files written from the result) and printer;
* the **page** loads ``service/static/workflows/<script>`` (which calls ``hypodisc.register(name, ...)``)
  and includes the ``section`` (job page) and ``form`` (index page) templates under
  ``service/templates/workflows/``;
* the **upload** form, if any, is ``POST /v1/jobs/<name>/files``: multipart files and text fields turned
  into a request by the workflow's ``build`` (corpus files, image folders as many files or a zip);
* the **examples** are a tiny valid request and a bad one, for :mod:`hypodisc.workflows.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: a CliParam without a default is required
REQUIRED: Any = ...


@dataclass(frozen=True)
class CliParam:
    """One command-line parameter of an input reader or output: positional when ``flags`` is empty."""

    name: str                           # the Python identifier its value is passed under
    type: Any                           # str, int, bool, Path, list[str] (a repeatable option), or Optional[...]
    default: Any = REQUIRED
    flags: tuple[str, ...] = ()         # e.g. ("--hypothesis", "-H"); a bool's ("--x",) is an on-only flag
    help: str = ""
    metavar: str | None = None


@dataclass(frozen=True)
class InputReader:
    """Reads some of a request's data fields from CLI parameters, and writes them back as CLI arguments.

    ``read(values)`` gets every parameter value of the command (its own, the other readers' and the
    config options, by name) and returns request fields; a ``"config"`` entry holds config overrides
    (e.g. ``--exhaustive`` sets ``verifier``). ``to_args(request, folder)`` is its inverse for a
    JSON-like request: the arguments (writing files into ``folder``) that read back the same fields;
    the check battery uses it to send a request through the CLI.
    """

    params: tuple[CliParam, ...]
    read: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    to_args: Callable[[Mapping[str, Any], Path], list[str]]
    #: config fields this reader carries itself (a nested model given as a JSON file...): no option of
    #: their own, and ``to_args`` writes them back
    config_fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CliOutput:
    """An extra file a command can write from the result (besides ``--json``): ``write(result, path)``."""

    param: CliParam
    write: Callable[[Any, Path], None]


@dataclass(frozen=True)
class CliSpec:
    """The workflow's ``hypodisc <name>`` command. Config fields become ``--field-name`` options unless
    ``flags`` names them otherwise (the first flag is the one error messages use; the rest are aliases)
    or ``exclude`` leaves them out (set them with ``--config``-style files instead)."""

    inputs: tuple[InputReader, ...]
    printer: str                                       # "module:function(result, title, console, err)"
    title: Callable[[Mapping[str, Any], Mapping[str, Any]], str]  # (CLI values, request fields) -> table title
    help: str = ""                                     # the command's help (default: the workflow's summary)
    flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exclude: frozenset[str] = frozenset()
    outputs: tuple[CliOutput, ...] = ()
    commands: str | None = None                        # "module:register(app)": more commands of this workflow


@dataclass(frozen=True)
class PageSpec:
    """The results pages' share of a workflow: files the page core loads by name."""

    script: str                         # under service/static/workflows/; calls hypodisc.register(name, {...})
    section: str                        # job-page template under service/templates/workflows/
    form: str | None = None             # index-page submit form template, if the workflow has one


@dataclass(frozen=True)
class UploadSpec:
    """A multipart submission route, ``POST /v1/jobs/<name>/files``, for data that lives in files.

    ``files`` and ``forms`` map each multipart field to its description (a file field takes one or more
    files). ``build(files, forms)`` gets ``{field: [(filename, bytes), ...]}`` and ``{field: text or None}``
    and returns the JSON-like request body; it raises InputRejected naming the bad file or field.
    """

    files: Mapping[str, str]
    forms: Mapping[str, str]
    build: Callable[[Mapping[str, list[tuple[str, bytes]]], Mapping[str, str | None]], dict]
    #: the inverse of ``build`` for a JSON-like request: (files, forms) that build it back; the check
    #: battery submits the valid example through the form with it
    to_parts: Callable[[Mapping[str, Any]], tuple[dict[str, list[tuple[str, bytes]]], dict[str, str]]]
    summary: str = ""


def json_form(value: str | None, what: str) -> Any:
    """A multipart text field holding JSON (None when absent or blank); malformed JSON is InputRejected."""
    import json

    from hypodisc.errors import InputRejected

    if value is None or not value.strip():
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise InputRejected(f"form field {what} is not valid JSON: {exc.msg} at {exc.pos}", code="malformed_json",
                            status=422) from None


@dataclass(frozen=True)
class Examples:
    """A tiny valid request (JSON-like; it must run in the fast lane on the scripted backend and the
    hashing embedder) and a bad one with the stable error code it must get everywhere."""

    valid: Callable[[], dict]
    invalid: Callable[[], dict]
    invalid_code: str
    volatile: frozenset[str] = frozenset({"cost"})   # result fields that differ between equal runs (timings)
    reply: Callable[[str, int], str] | None = None   # the scripted LLM's k-th sample, if the example generates


@dataclass(frozen=True)
class Surfaces:
    cli: CliSpec
    page: PageSpec
    examples: Examples
    upload: UploadSpec | None = None
