import re

import pytest

from selflearn.config import Config, from_dict, load_config
from selflearn.errors import UserError


def test_precedence_defaults_file_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[questions]\nn = 7\nmethod = "open"\n[generation]\nbatch_size = 4\n')
    cfg = load_config(str(path), {"questions": {"n": 3}})
    assert (cfg.questions.n, cfg.questions.method, cfg.generation.batch_size) == (3, "open", 4)
    assert cfg.scoring.scorer == "offline"  # untouched default


@pytest.mark.parametrize("text, message", [
    ("[nope]\nx = 1\n", "unknown section [nope]"),
    ("[questions]\nnn = 1\n", "unknown key questions.nn"),
    ("[questions]\nn = 'many'\n", "must be a number"),
    ("[search]\nallow_private_hosts = 1\n", "true or false"),
    ("[questions\n", "not valid TOML"),
])
def test_bad_config_files_are_user_errors(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=re.escape(message)):
        load_config(str(path))


def test_shipped_paper_configs_load_and_roundtrip():
    cfg = load_config("mistral-7b-instruct")
    assert cfg.generation.model == "mistralai/Mistral-7B-Instruct-v0.2"
    assert from_dict(cfg.to_dict()) == cfg
    with pytest.raises(UserError, match="shipped configs"):
        load_config("no-such-model")


def test_stored_config_roundtrip_defaults():
    assert from_dict(Config().to_dict()) == Config()
