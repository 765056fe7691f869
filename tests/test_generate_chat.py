"""ChatFormat: every style renders the exact model input; system roles fold into the user turn when rejected."""

from __future__ import annotations

import logging

import pytest

from selflearn.errors import UserError
from selflearn.generate.chat import (
    DEFAULT_SYSTEM,
    MISTRAL_PREAMBLE,
    ChatFormat,
    fold_system,
    render_plain,
    render_prompts,
)

SPECIAL = ["<pad>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>"]
WORDS = (
    "what is the capital of france who wrote hamlet answer concisely with only one sentence why sky blue a an and "
    "you are student eager to learn about new things i am aware my lack knowledge some propose three topics little "
    "or no consider these question word in it was by for on at as be this that from river city year king music art "
    "science planet star ocean mountain language history war peace book film song team game law money"
).split()
PUNCT = list(".,?!:;'\"")
# A toy template in the usual shape: role markers, then the assistant marker as the generation prompt.
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
# Like Mistral's: only user/assistant roles.
NO_SYSTEM_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('system role not supported') }}"
    "{% endif %}<|{{ m['role'] }}|> {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_tokenizer(chat_template: str | None = TEMPLATE):
    """A word-level tokenizer built in memory (no download), lower-casing, with role markers as special tokens."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL + WORDS + PUNCT)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        additional_special_tokens=["<|user|>", "<|assistant|>", "<|system|>"],
    )
    hf.chat_template = chat_template
    return hf


def test_default_is_papers_system_with_tokenizer_template():
    tok = tiny_tokenizer()
    text = ChatFormat().render("Who wrote Hamlet?", tok)
    assert text == f"<|system|> {DEFAULT_SYSTEM} <|user|> Who wrote Hamlet? <|assistant|>"
    assert ChatFormat().add_special_tokens(text, tok) is False


def test_no_system_message():
    assert ChatFormat(system=None).render("hi", tiny_tokenizer()) == "<|user|> hi <|assistant|>"


def test_system_folds_into_user_turn_when_template_rejects_it():
    text = ChatFormat().render("Who wrote Hamlet?", tiny_tokenizer(NO_SYSTEM_TEMPLATE))
    assert text == f"<|user|> {DEFAULT_SYSTEM}\n\nWho wrote Hamlet? <|assistant|>"


def test_mistral_preamble_layout():
    fmt = ChatFormat(assistant_preamble=MISTRAL_PREAMBLE)
    text = fmt.render("Q?", tiny_tokenizer(NO_SYSTEM_TEMPLATE))
    assert text == f"<|user|> {DEFAULT_SYSTEM} <|assistant|> {MISTRAL_PREAMBLE} <|user|> Q? <|assistant|>"
    assert [m["role"] for m in fmt.messages("Q?")] == ["user", "assistant", "user"]


def test_template_string_and_bos_added_once():
    fmt = ChatFormat(template="### System:\n{system}\n### User:\n{prompt}\n### Assistant:\n")
    tok = tiny_tokenizer()
    text = fmt.render("Why?", tok)
    assert text == f"### System:\n{DEFAULT_SYSTEM}\n### User:\nWhy?\n### Assistant:\n"
    assert fmt.add_special_tokens(text, tok) is True
    assert ChatFormat(template="<s>{prompt}").add_special_tokens("<s>x", tok) is False


def test_template_string_must_have_prompt():
    with pytest.raises(UserError, match="prompt"):
        ChatFormat(template="{system} only")


def test_seed_style_prompt_fn_and_extract():
    fmt = ChatFormat(prompt_fn=lambda p: f"<s>[INST] {p} [/INST]", extract_response_fn=lambda r: r.split(" [/INST]")[-1])
    assert fmt.render("Q") == "<s>[INST] Q [/INST]"
    assert fmt.style == "prompt_fn"
    assert fmt.extract("echo [/INST] the answer  ") == "the answer"
    assert ChatFormat().extract("  plain \n") == "plain"


def test_plain_fallback_warns_once(caplog):
    tok = tiny_tokenizer(chat_template=None)
    with caplog.at_level(logging.WARNING, logger="selflearn.generate.chat"):
        texts = render_prompts(ChatFormat(), ["a", "b"], tok)
    assert texts[0] == f"{DEFAULT_SYSTEM}\n\nUser: a\nAssistant:"
    assert sum("no chat template" in r.message for r in caplog.records) == 1
    assert ChatFormat(system=None).render("a") == "User: a\nAssistant:"


def test_fold_and_plain_helpers():
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert fold_system(msgs) == [{"role": "user", "content": "S\n\nU"}]
    assert msgs[1]["content"] == "U"  # not mutated
    messages = ChatFormat(assistant_preamble="P", system="S").messages("U")
    assert render_plain(messages) == "User: S\nAssistant: P\nUser: U\nAssistant:"
