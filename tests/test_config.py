import os

import pytest

from hypodisc.config import load_settings
from hypodisc.errors import ConfigError

pytestmark = pytest.mark.fast  # no model: `make test-fast`


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in ("HYPODISC_BACKEND", "HYPODISC_MODEL", "HYPODISC_N_CTX", "HYPODISC_HOME"):
        monkeypatch.delenv(key, raising=False)
    cfg = tmp_path / "config.toml"
    monkeypatch.setenv("HYPODISC_CONFIG", str(cfg))
    return cfg


def test_defaults(clean_env):
    s = load_settings()
    assert s.backend == "llamacpp" and s.model is None and s.n_ctx == 4096


def test_precedence_flags_over_env_over_toml(clean_env, monkeypatch):
    clean_env.write_text('backend = "openai"\nn_ctx = 1024\nmodel = "from-toml"\n')
    s = load_settings()
    assert (s.backend, s.n_ctx, s.model) == ("openai", 1024, "from-toml")
    monkeypatch.setenv("HYPODISC_N_CTX", "2048")
    monkeypatch.setenv("HYPODISC_MODEL", "from-env")
    s = load_settings()
    assert (s.backend, s.n_ctx, s.model) == ("openai", 2048, "from-env")
    s = load_settings(model="from-flag", n_ctx=None)  # an unset flag falls through
    assert (s.backend, s.n_ctx, s.model) == ("openai", 2048, "from-flag")


def test_bad_toml_names_the_file(clean_env):
    clean_env.write_text("backend = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_invalid_values_name_the_setting(clean_env):
    with pytest.raises(ConfigError, match="backend"):
        load_settings(backend="tensorrt")
    clean_env.write_text("n_ctx = 10\n")
    with pytest.raises(ConfigError, match="n_ctx"):
        load_settings()
    clean_env.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="colour"):
        load_settings()


def test_a_given_config_file_applies_to_that_call_only(clean_env, tmp_path):
    given = tmp_path / "given.toml"
    given.write_text('n_ctx = 512\n')
    env_before = dict(os.environ)
    assert load_settings(config=given).n_ctx == 512
    assert load_settings().n_ctx == 4096  # the next call reads $HYPODISC_CONFIG (empty) again
    assert dict(os.environ) == env_before  # nothing written to the environment
