"""One ``hypodisc <workflow>`` command per registered workflow, built from its declaration.

The command's parameters are the workflow's input readers' (its data: corpus files, a features
file...), one option per config field (``--field-name``, the field's description as help, lists
comma-separated), ``--json``, the workflow's extra outputs and the backend options. Values are
checked by the config model, so a bad one is one error line naming its flag. Nothing here knows a
workflow: see :mod:`hypodisc.workflows.surfaces` for what each declares.
"""

from __future__ import annotations

import importlib
import inspect
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

import typer
from pydantic import BaseModel

from hypodisc.errors import HypodiscError
from hypodisc.workflows.contract import Workflow
from hypodisc.workflows.surfaces import REQUIRED, CliParam

#: the options every workflow command takes after its own (they build the settings)
_BACKEND_PARAMS = ("backend", "model", "base_url", "n_ctx", "home", "config")


@dataclass(frozen=True)
class ConfigOption:
    """A config field as a CLI option."""

    field: str
    flags: tuple[str, ...]
    kind: Literal["scalar", "bool", "list"]
    param: inspect.Parameter


def _choices(annotation: Any) -> list[str] | None:
    return [str(a) for a in get_args(annotation)] if get_origin(annotation) is Literal else None


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def config_options(workflow: Workflow) -> list[ConfigOption]:
    """One option per config field the workflow's CLI spec does not exclude; a field no option can
    carry (a nested model, a mapping) must be excluded, so a new field is never silently dropped."""
    spec = workflow.surfaces.cli
    taken = {p.name for r in spec.inputs for p in r.params} | {o.param.name for o in spec.outputs}
    options = []
    carried = {name for r in spec.inputs for name in r.config_fields}
    for name, f in workflow.config_model.model_fields.items():
        if name in spec.exclude or name in carried:
            continue
        if name in taken:
            raise ValueError(f"workflow {workflow.name}: config field {name!r} clashes with an input parameter; "
                             "exclude it or rename the parameter")
        flags = spec.flags.get(name, ("--" + name.replace("_", "-"),))
        ann = _strip_optional(f.annotation)
        help_text = f.description or ""
        if ann is bool:
            kind, typ, default = "bool", bool, f.default
            flags = (f"{flags[0]}/--no-{flags[0].removeprefix('--')}", *flags[1:])
        elif ann in (int, float, str) or _choices(ann):
            kind, typ, default = "scalar", ann if ann in (int, float, str) else str, f.default
            if _choices(ann):
                help_text += f" ({' | '.join(_choices(ann))})"
        elif get_origin(ann) is list and (get_args(ann)[0] is str or _choices(get_args(ann)[0])):
            kind, typ, default = "list", str, ",".join(map(str, f.default or []))
            choices = _choices(get_args(ann)[0])
            help_text += f" (comma-separated{': ' + ','.join(choices) if choices else ''})"
        else:
            raise ValueError(f"workflow {workflow.name}: config field {name!r} ({f.annotation}) cannot be a CLI "
                             "option; add it to its CliSpec.exclude")
        option = typer.Option(*flags, help=help_text.strip(), show_default=True)
        param = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                  annotation=Annotated[Optional[typ] if default is None else typ, option])
        options.append(ConfigOption(name, tuple(flags), kind, param))
    return options


def _param(p: CliParam) -> inspect.Parameter:
    """A declared CLI parameter as a typer one: positional without flags, else an option."""
    if not p.flags:
        info = typer.Argument(help=p.help, metavar=p.metavar, show_default=False)
    else:
        info = typer.Option(*p.flags, help=p.help, metavar=p.metavar)  # a bool with one flag is on-only
    default = inspect.Parameter.empty if p.default is REQUIRED else p.default
    return inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[p.type, info])


def config_values(options: list[ConfigOption], values: Mapping[str, Any]) -> dict[str, Any]:
    """The options' values as config fields (comma-separated lists split)."""
    out = {}
    for o in options:
        v = values[o.field]
        if o.kind == "list":
            v = [s.strip() for s in (v or "").split(",") if s.strip()]
        out[o.field] = v
    return out


def build_request(workflow: Workflow, values: Mapping[str, Any], options: list[ConfigOption]) -> BaseModel:
    """The request the command's values describe: readers' fields, then the config (options, then the
    readers' config overrides), validated with errors naming the flag."""
    from hypodisc.cli import validated

    renames = {o.field: o.flags[0].split("/")[0] for o in options}
    config = config_values(options, values)
    cfg = validated(workflow.config_model, renames, **config)  # a bad option fails before any file is read
    fields: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    for reader in workflow.surfaces.cli.inputs:
        read = dict(reader.read(values))
        overrides.update(read.pop("config", {}))
        fields.update(read)
    if overrides:
        cfg = validated(workflow.config_model, renames, **{**config, **overrides})
    return workflow.request_model.model_construct(**fields, config=cfg)


def _call(ref: str) -> Callable:
    module, function = ref.split(":")
    return getattr(importlib.import_module(module), function)


def run_request(workflow: Workflow, request: BaseModel, settings, title: str, json_out: Path | None):
    """Check, run, print and save one request of any workflow: the CLI's whole job once it has one."""
    from hypodisc.cli import err, out, run_workflow, write_result

    result = run_workflow(workflow.name, request, settings)
    _call(workflow.surfaces.cli.printer)(result, title, out, err)
    write_result(result, json_out)
    return result


def workflow_command(workflow: Workflow) -> Callable[..., Any]:
    """The typer command function of a workflow, its signature built from the declaration."""
    from hypodisc import cli

    spec = workflow.surfaces.cli
    options = config_options(workflow)
    json_param = CliParam("json_out", Optional[Path], None, ("--json",), "write the full result as JSON")
    declared = [_param(p) for r in spec.inputs for p in r.params]
    params = ([p for p in declared if p.default is inspect.Parameter.empty]
              + [p for p in declared if p.default is not inspect.Parameter.empty]
              + [o.param for o in options] + [_param(json_param)] + [_param(o.param) for o in spec.outputs]
              + [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                   annotation=cli.BACKEND_OPTIONS[name]) for name in _BACKEND_PARAMS])
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise ValueError(f"workflow {workflow.name}: CLI parameters declared twice: "
                         f"{sorted({n for n in names if names.count(n) > 1})}")

    def command(**values: Any) -> None:
        request = build_request(workflow, values, options)
        settings = cli.settings_from(*(values[name] for name in _BACKEND_PARAMS))
        result = run_request(workflow, request, settings, spec.title(values, dict(request)), values["json_out"])
        for output in spec.outputs:
            path = values[output.param.name]
            if path is not None:
                output.write(result, path)
                cli.err.print(f"wrote {path}")

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = workflow.name.replace("-", "_")
    command.__doc__ = spec.help or workflow.summary
    return command


def register(app: typer.Typer) -> None:
    """Add every registered workflow's command (and its extra commands) to the root command."""
    from hypodisc.workflows.registry import WORKFLOWS

    for workflow in WORKFLOWS.values():
        app.command(workflow.name)(workflow_command(workflow))
        if workflow.surfaces.cli.commands:
            _call(workflow.surfaces.cli.commands)(app)


def request_args(workflow: Workflow, request: Mapping[str, Any], folder: Path) -> list[str]:
    """The command-line arguments that read back ``request`` (JSON-like): the inverse of the command,
    for the check battery. Config values become their options; data inputs go through the readers."""
    args: list[str] = []
    for reader in workflow.surfaces.cli.inputs:
        args += reader.to_args(request, folder)
    options = {o.field: o for o in config_options(workflow)}
    carried = {name for r in workflow.surfaces.cli.inputs for name in r.config_fields}
    for name, value in (request.get("config") or {}).items():
        if name in carried:
            continue
        o = options.get(name)
        if o is None:
            raise HypodiscError(f"config field {name!r} has no CLI option")
        flag = o.flags[0].split("/")
        if o.kind == "bool":
            args.append(flag[0] if value else flag[1])
        elif o.kind == "list":
            args += [flag[0], ",".join(map(str, value))]
        else:
            args += [flag[0], str(value)]
    return args
