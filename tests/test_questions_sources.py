"""Open, induced and baseline sources: the paper's prompts, one generate call per step, counts, meta, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from selflearn.generate.baseline import BaselineGenerator
from selflearn.generate.fake import FakeGenerator
from selflearn.protocols import QuestionSource
from selflearn.questions import load_source
from selflearn.questions.baseline import BaselineSource
from selflearn.questions.induced import InducedSource
from selflearn.questions.open import OpenSource
from selflearn.questions.prompts import (
    BASELINE_TOPICS,
    INDUCED_QUESTION_PROMPT,
    OPEN_QUESTION_PROMPT,
    QUESTION_WORDS,
    TOPIC_PROMPT,
)
from selflearn.types import TOPIC_PARAMS


def numbered_replies(prompt: str, i: int) -> str:
    """Topic prompts get a numbered topic set, question prompts a question naming their prompt's topics."""
    if prompt == TOPIC_PROMPT:
        numbered_replies.count += 1
        return f"  topic{numbered_replies.count}a, topic{numbered_replies.count}b  "
    return f"Q about [{prompt[len('Consider one of these topics: '):].split('.')[0]}]?"


def fake() -> FakeGenerator:
    numbered_replies.count = 0
    return FakeGenerator(fn=numbered_replies)


def test_paper_prompts_verbatim():
    assert TOPIC_PROMPT == (
        "Propose three topics about which you have little or no knowledge. "
        "Answer with only the three proposed topics concisely without elaboration."
    )
    assert OPEN_QUESTION_PROMPT.format(topics="X") == (
        "Consider one of these topics: X. Propose only one question about something that you have little or no "
        "knowledge. Answer with only the proposed question concisely without elaboration."
    )
    assert INDUCED_QUESTION_PROMPT.format(topics="X", word="WHY") == (
        "Consider one of these topics: X. By using the word 'WHY', propose only one question about something that "
        "you have little or no knowledge. Answer with only the proposed question concisely without elaboration."
    )


def test_open_batches_topics_then_questions():
    gen = fake()
    questions = OpenSource(gen).propose(5, np.random.default_rng(0))
    assert len(gen.calls) == 2
    assert gen.calls[0].prompts == [TOPIC_PROMPT] * 5
    assert gen.calls[1].prompts == [OPEN_QUESTION_PROMPT.format(topics=f"topic{i}a, topic{i}b") for i in range(1, 6)]
    assert [q.topics for q in questions] == [f"topic{i}a, topic{i}b" for i in range(1, 6)]  # stripped
    assert questions[2].prompt == "Q about [topic3a, topic3b]?"
    assert {q.method for q in questions} == {"open"} and all(q.meta == {} for q in questions)
    assert isinstance(OpenSource(gen), QuestionSource)


def test_induced_six_words_per_topic_set_truncated_to_k():
    gen = fake()
    questions = InducedSource(gen).propose(8, np.random.default_rng(0))
    assert len(gen.calls) == 2
    assert len(gen.calls[0].prompts) == 2  # ceil(8 / 6) topic sets
    assert len(gen.calls[1].prompts) == 8  # no question generated only to be dropped
    assert [q.meta["word"] for q in questions] == list(QUESTION_WORDS) + ["WHAT", "WHO"]
    assert [q.topics for q in questions] == ["topic1a, topic1b"] * 6 + ["topic2a, topic2b"] * 2
    assert gen.calls[1].prompts[3] == INDUCED_QUESTION_PROMPT.format(topics="topic1a, topic1b", word="WHERE")
    assert {q.method for q in questions} == {"induced"}


def test_induced_exact_multiple():
    gen = fake()
    questions = InducedSource(gen).propose(12, np.random.default_rng(0))
    assert len(gen.calls[0].prompts) == 2 and len(questions) == 12


@pytest.mark.parametrize("source_cls", [OpenSource, InducedSource, BaselineSource])
def test_zero_questions_makes_no_call(source_cls):
    gen = fake()
    assert source_cls(gen).propose(0, np.random.default_rng(0)) == []
    assert gen.calls == []


def test_params_seeded_from_rng_and_temperature():
    gen = fake()
    OpenSource(gen, temperature=0.5).propose(2, np.random.default_rng(7))
    seeds_a = [c.params.seed for c in gen.calls]
    assert all(c.params.temperature == 0.5 and c.params.max_new_tokens == TOPIC_PARAMS.max_new_tokens for c in gen.calls)
    gen_b = fake()
    OpenSource(gen_b, temperature=0.5).propose(2, np.random.default_rng(7))
    assert [c.params.seed for c in gen_b.calls] == seeds_a and seeds_a[0] != seeds_a[1]
    gen_c = fake()
    OpenSource(gen_c, temperature=0.0).propose(1, np.random.default_rng(7))
    assert all(c.params.greedy and not c.params.do_sample for c in gen_c.calls)
    assert OpenSource(fake()).topic_params.temperature == 1.0


def test_baseline_with_baseline_generator_echoes_prompt():
    questions = BaselineSource(BaselineGenerator()).propose(3, np.random.default_rng(0))
    expected = OPEN_QUESTION_PROMPT.format(topics=BASELINE_TOPICS) + "..."
    assert [q.topics for q in questions] == [BASELINE_TOPICS] * 3
    assert [q.prompt for q in questions] == [expected] * 3
    assert {q.method for q in questions} == {"baseline"}


def test_baseline_one_call_with_any_generator():
    gen = fake()
    BaselineSource(gen).propose(4, np.random.default_rng(0))
    assert len(gen.calls) == 1 and len(gen.calls[0].prompts) == 4


def test_load_source_names():
    assert load_source("induced") is InducedSource
    from selflearn.errors import UserError

    with pytest.raises(UserError, match="unknown question method"):
        load_source("telepathy")
