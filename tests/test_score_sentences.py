"""Sentence splitting and the shared pair bookkeeping of the scorers."""

import math

import numpy as np

from selflearn.score import mean_by_sentence, score_answers, sentence_sample_pairs
from selflearn.score.fake import FakeScorer
from selflearn.score.sentences import SentenceSplitter, split_sentences
from selflearn.types import Answer


def test_empty_and_whitespace_give_no_sentences():
    assert split_sentences("") == []
    assert split_sentences("   \n\t ") == []


def test_sentences_are_stripped_and_split():
    assert split_sentences("  The sky is blue.   Grass is green!  Why? ") == ["The sky is blue.", "Grass is green!", "Why?"]


def test_abbreviations_do_not_end_sentences():
    text = "Dr. Smith moved to Washington D.C. in 1999. He works for the U.S. government."
    assert split_sentences(text) == ["Dr. Smith moved to Washington D.C. in 1999.", "He works for the U.S. government."]


def test_splitter_reuses_one_segmenter():
    splitter = SentenceSplitter()
    seg = splitter._segmenter
    assert splitter("One. Two.") == ["One.", "Two."]
    assert splitter.split("Three.") == ["Three."] and splitter._segmenter is seg


def test_pairs_skip_empty_samples_and_average_back():
    answers = [
        Answer("q1", "a b", ["s1", "  ", "s2"], ["a.", "b."]),
        Answer("q2", "", ["x"], []),
        Answer("q3", "c", ["", " "], ["c."]),
    ]
    pairs, owners = sentence_sample_pairs(answers)
    assert pairs == [("a.", "s1"), ("a.", "s2"), ("b.", "s1"), ("b.", "s2")]
    out = mean_by_sentence(answers, owners, [0.0, 1.0, 0.2, 0.4])
    np.testing.assert_allclose(out[0], [0.5, 0.3])
    assert out[1].shape == (0,)
    assert out[2].shape == (1,) and math.isnan(out[2][0])


def test_fake_scorer_is_deterministic_and_fixed_per_prompt():
    answers = [Answer("q1", "p", ["s"], ["a.", "b."]), Answer("q2", "p", ["s"], ["c."]), Answer("q3", "", ["s"], [])]
    scorer = FakeScorer(by_prompt={"q1": 0.9})
    first, second = score_answers(scorer, answers), score_answers(scorer, answers)
    np.testing.assert_allclose(first[0].sentence_scores, [0.9, 0.9])
    assert first[0].hallucinated()
    np.testing.assert_array_equal(first[1].sentence_scores, second[1].sentence_scores)
    assert 0.0 <= first[1].sentence_scores[0] < 1.0
    assert first[2].sentence_scores.shape == (0,) and not first[2].hallucinated()
    assert scorer.calls == [3, 3]
