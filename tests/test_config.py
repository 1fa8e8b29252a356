from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import UsageError


def test_layers_override_in_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config/heron").mkdir(parents=True)
    (home / ".config/heron/config.toml").write_text('model = "user"\nmax_steps = 7\nbase_url = "http://user/v1"\n')
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text('[tool.heron]\nmodel = "repo"\nmax-steps = 9\n')
    env = {"HOME": str(home), "HERON_MODEL": "env", "OPENAI_BASE_URL": "http://openai/v1"}
    config = load_config(repo, {"max_steps": 11}, env)
    assert config.model == "env"
    assert config.max_steps == 11
    assert config.base_url == "http://openai/v1"
    assert load_config(repo, {}, {"HOME": str(home)}).max_steps == 9


def test_heron_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.heron]\nmodel = "pyproject"\n')
    (tmp_path / "heron.toml").write_text('model = "heron"\ndeny = ["rm *"]\n')
    config = load_config(tmp_path, {}, {"HOME": str(tmp_path)})
    assert config.model == "heron"
    assert config.deny == ("rm *",)


def test_heron_env_wins_over_openai_env(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "OPENAI_BASE_URL": "http://a/v1", "HERON_BASE_URL": "http://b/v1"}
    assert load_config(tmp_path, {}, env).base_url == "http://b/v1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('max_steps = "many"', "'max_steps' = 'many': expected a number"),
        ("colour = 1", "unknown key 'colour'"),
        ('approval = "yolo"', "expected one of read-only, ask, auto-edit, full-auto"),
        ("max_steps = 0", "expected at least 1"),
        ("network = 1", "expected true or false"),
        ("deny = 3", "expected a list of strings"),
        ("model = [", "not valid TOML"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "heron.toml").write_text(text + "\n")
    with pytest.raises(UsageError) as err:
        load_config(tmp_path, {}, {"HOME": str(tmp_path)})
    assert str(tmp_path / "heron.toml") in str(err.value)
    assert expected in str(err.value)
    assert err.value.exit_code == 2


def test_bad_environment_value(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="environment: 'max_retries' = 'lots'"):
        load_config(tmp_path, {}, {"HOME": str(tmp_path), "HERON_MAX_RETRIES": "lots"})
