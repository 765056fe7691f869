"""BaselineGenerator, FakeGenerator (queue, function, scripted) and answer_questions' call pattern."""

from __future__ import annotations

import pytest

from selflearn.generate import ANSWER_PROMPT, answer_questions
from selflearn.generate.baseline import BaselineGenerator
from selflearn.generate.fake import FakeGenerator
from selflearn.protocols import Generator
from selflearn.types import PASSAGE_PARAMS, SAMPLE_PARAMS, TOPIC_PARAMS

TOPIC_PROMPT = (
    "Propose three topics about which you have little or no knowledge. "
    "Answer with only the three proposed topics concisely without elaboration."
)
INDUCED = (
    "Consider one of these topics: {topics}. By using the word '{word}', propose only one question about something "
    "that you have little or no knowledge. Answer with only the proposed question concisely without elaboration."
)


def test_backends_satisfy_protocol():
    assert isinstance(BaselineGenerator(), Generator)
    assert isinstance(FakeGenerator(), Generator)


def test_baseline_is_prompt_plus_dots():
    out = BaselineGenerator().generate(["Who?", "Why"], n=3, params=SAMPLE_PARAMS)
    assert out == [["Who?..."] * 3, ["Why..."] * 3]


def test_fake_queue_then_fn_and_records_calls():
    fake = FakeGenerator(replies=["a", "b"], fn=lambda p, i: f"{p}#{i}")
    out = fake.generate(["x", "y"], n=2, params=SAMPLE_PARAMS)
    assert out == [["a", "b"], ["y#0", "y#1"]]
    assert len(fake.calls) == 1
    assert fake.calls[0].prompts == ["x", "y"] and fake.calls[0].n == 2 and fake.calls[0].params is SAMPLE_PARAMS


def test_answer_questions_makes_two_batched_calls():
    fake = FakeGenerator.scripted(seed=1)
    questions = ["Who first documented lichen?", "Why is dark matter so hard to study?", "Q3?"]
    out = answer_questions(fake, questions, n_samples=10, seed=5)
    assert len(fake.calls) == 2
    passage_call, sample_call = fake.calls
    assert passage_call.prompts == [ANSWER_PROMPT.format(question=q) for q in questions]
    assert passage_call.n == 1 and passage_call.params.greedy
    assert sample_call.n == 10 and sample_call.params == SAMPLE_PARAMS.with_(seed=5)
    assert passage_call.params == PASSAGE_PARAMS
    assert [len(s) for _, s in out] == [10, 10, 10]
    assert answer_questions(fake, []) == []


def test_scripted_is_deterministic_and_varied():
    a = FakeGenerator.scripted(seed=3).generate([TOPIC_PROMPT] * 6, params=TOPIC_PARAMS)
    b = FakeGenerator.scripted(seed=3).generate([TOPIC_PROMPT] * 6, params=TOPIC_PARAMS)
    c = FakeGenerator.scripted(seed=4).generate([TOPIC_PROMPT] * 6, params=TOPIC_PARAMS)
    assert a == b and a != c
    assert len({r[0] for r in a}) > 1  # identical prompts in one call still differ
    assert all(len(r[0].split(", ")) == 3 for r in a)


def test_scripted_question_uses_topics_and_induced_word():
    fake = FakeGenerator.scripted()
    out = fake.generate([INDUCED.format(topics="lichen, permafrost, dark matter", word="WHY")], params=TOPIC_PARAMS)
    question = out[0][0]
    assert question.startswith("Why ") and question.endswith("?")
    assert any(t in question for t in ("lichen", "permafrost", "dark matter"))


@pytest.mark.parametrize("known_fraction", [0.0, 1.0])
def test_scripted_answers_known_agree_unknown_disagree(known_fraction):
    fake = FakeGenerator.scripted(seed=2, known_fraction=known_fraction)
    questions = [f"Who first documented topic {i}?" for i in range(5)]
    out = answer_questions(fake, questions, n_samples=4)
    for passage, samples in out:
        if known_fraction == 1.0:
            assert samples == [passage] * 4
        else:
            assert len(set(samples)) > 1 and passage not in samples
    # passages are a function of the question only
    assert answer_questions(fake, questions, n_samples=0) == [(p, []) for p, _ in out]
