"""LLMPromptScorer: SelfCheckGPT's Yes/No prompt, all prompts in one generate call."""

import math

import numpy as np
import pytest

from selflearn.score.llm import PROMPT, LLMPromptScorer, reply_score
from selflearn.types import Answer


class QueueGenerator:
    """Replies from a function of the prompt; records every generate call."""

    def __init__(self, reply):
        self.reply = reply
        self.calls = []

    def generate(self, prompts, *, n=1, params):
        self.calls.append((list(prompts), n, params))
        return [[self.reply(p)] for p in prompts]


@pytest.mark.parametrize("reply,score", [(" Yes.", 0.0), ("yes", 0.0), ("NO, it is not", 1.0),
                                         ("no", 1.0), ("Maybe", 0.5), ("", 0.5)])
def test_reply_mapping(reply, score):
    assert reply_score(reply) == score


def test_one_generate_call_and_mean_over_samples():
    def reply(prompt):
        return "Yes" if "Context: right" in prompt else " no"

    gen = QueueGenerator(reply)
    answers = [
        Answer("q1", "A. B.", ["right", "wrong", ""], ["A.", "B."]),
        Answer("q2", "", ["right"], []),
        Answer("q3", "C.", ["right", "right"], ["C."]),
        Answer("q4", "D.", ["", "  "], ["D."]),
    ]
    out = LLMPromptScorer(gen).score(answers)
    assert len(gen.calls) == 1
    prompts, n, params = gen.calls[0]
    assert n == 1 and params.greedy and params.max_new_tokens <= 10
    assert len(prompts) == 2 * 2 + 2
    assert prompts[0] == PROMPT.format(sample="right", sentence="A.")
    assert prompts[0].startswith("Context: right\n\nSentence: A.\n\nIs the sentence supported")
    np.testing.assert_allclose(out[0], [0.5, 0.5])
    assert out[1].shape == (0,)
    np.testing.assert_allclose(out[2], [0.0])
    assert math.isnan(out[3][0])


def test_no_pairs_makes_no_call():
    gen = QueueGenerator(lambda p: "yes")
    assert [a.shape for a in LLMPromptScorer(gen).score([Answer("q", "", ["x"], [])])] == [(0,)]
    assert gen.calls == []
