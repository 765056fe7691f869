"""The llama.cpp backend: GGUF resolution, prompt rendering identical to transformers', and real generation.

Unit tests need neither llama-cpp-python nor a model; the e2e tests skip when llama_cpp is not importable and
otherwise generate with the default model's GGUF file.
"""

from __future__ import annotations

import sys

import pytest

from selflearn.errors import UserError
from selflearn.generate.chat import ChatFormat
from selflearn.generate.llamacpp import MISSING, TemplateTokenizer, _llama_cpp, resolve_gguf
from selflearn.types import PASSAGE_PARAMS, SAMPLE_PARAMS

PROMPTS = ["Answer concisely with only one sentence. What is a lichen?",
           "Answer concisely with only one sentence. Who first described tardigrades?"]


def test_missing_llama_cpp_is_a_user_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` raise ImportError
    with pytest.raises(UserError, match="pip install 'selflearn\\[llamacpp\\]'") as err:
        _llama_cpp()
    assert str(err.value) == MISSING


def test_resolve_gguf(tmp_path):
    with pytest.raises(UserError, match="convert_hf_to_gguf"):
        resolve_gguf(str(tmp_path))  # a folder without a GGUF file, e.g. a merged transformers model
    with pytest.raises(UserError, match="model not found"):
        resolve_gguf(str(tmp_path / "missing.gguf"))
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    assert resolve_gguf(str(tmp_path)) == tmp_path / "model.gguf"
    assert resolve_gguf(str(tmp_path / "model.gguf")) == tmp_path / "model.gguf"


def test_template_tokenizer_folds_system_when_template_rejects_it():
    template = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
                "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}<assistant>{% endif %}")
    text = ChatFormat(system="Be brief.").render("Hi?", TemplateTokenizer(template))
    assert text == "<user>Be brief.\n\nHi?\n<assistant>"


def test_template_tokenizer_renders_bos_and_generation_prompt():
    template = "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}{% endfor %}" \
               "{% if add_generation_prompt %}[assistant]{% endif %}"
    tok = TemplateTokenizer(template, bos_token="<s>")
    assert ChatFormat(system=None).render("Q", tok) == "<s>[user] Q[assistant]"
    assert not ChatFormat().add_special_tokens("<s>[user] Q", tok)  # a chat template writes its own BOS


@pytest.mark.e2e
def test_gguf_template_renders_like_the_transformers_tokenizer():
    """Both engines must see the same prompt text: the GGUF's template vs the converted folder's tokenizer."""
    from gguf import GGUFReader
    from transformers import AutoTokenizer

    from selflearn.generate.default_model import default_gguf_path, default_model_path

    field = GGUFReader(str(default_gguf_path())).fields["tokenizer.chat_template"]
    template = bytes(field.parts[field.data[0]]).decode("utf-8")
    hf = AutoTokenizer.from_pretrained(str(default_model_path()))
    for fmt in (ChatFormat(), ChatFormat(system=None)):
        assert [fmt.render(p, TemplateTokenizer(template)) for p in PROMPTS] == [fmt.render(p, hf) for p in PROMPTS]


@pytest.fixture(scope="module")
def generator():
    pytest.importorskip("llama_cpp")
    from selflearn.generate.llamacpp import LlamaCppGenerator

    return LlamaCppGenerator.load("smollm2-135m-instruct", n_seq=8, n_threads=1)  # 1: shared CI cores


@pytest.mark.e2e
def test_tokens_match_the_transformers_tokenizer(generator):
    from transformers import AutoTokenizer

    from selflearn.generate.default_model import default_model_path

    hf = AutoTokenizer.from_pretrained(str(default_model_path()))
    texts = generator.render(PROMPTS)
    assert generator.encode(PROMPTS) == [hf(t, add_special_tokens=False)["input_ids"] for t in texts]


@pytest.mark.e2e
def test_greedy_is_deterministic_and_copied_for_n(generator):
    params = PASSAGE_PARAMS.with_(max_new_tokens=24)
    first = generator.generate(PROMPTS, n=3, params=params)
    again = generator.generate(PROMPTS, n=1, params=params)
    assert [len(r) for r in first] == [3, 3]
    assert all(r[0] and r[0] == r[1] == r[2] for r in first)
    assert [r[0] for r in first] == [r[0] for r in again]


@pytest.mark.e2e
def test_samples_are_seeded_varied_and_bounded(generator):
    params = SAMPLE_PARAMS.with_(max_new_tokens=12, seed=7)
    out = generator.generate(PROMPTS, n=10, params=params)  # 20 sequences through 8 slots: slots are reused
    assert [len(r) for r in out] == [10, 10]
    assert all(len(set(r)) >= 3 for r in out)  # sampling at temperature 1 varies
    lengths = [len(generator.model.tokenize(t.encode(), False, False)) for r in out for t in r if t]
    assert max(lengths) <= 13  # 12 new tokens (re-tokenising a stripped text may differ by one)
    assert out == generator.generate(PROMPTS, n=10, params=params)
    assert out != generator.generate(PROMPTS, n=10, params=params.with_(seed=8))


@pytest.mark.e2e
def test_prompt_too_long_is_a_user_error(generator):
    with pytest.raises(UserError, match="n_ctx"):
        generator.generate(PROMPTS[:1], n=1, params=PASSAGE_PARAMS.with_(max_new_tokens=generator.n_ctx))
