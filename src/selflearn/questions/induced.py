"""Induced generation: model-proposed topics, then six questions per topic set, one per question word."""

from __future__ import annotations

from selflearn.questions.open import ModelTopicsSource
from selflearn.questions.prompts import INDUCED_QUESTION_PROMPT, QUESTION_WORDS


class InducedSource(ModelTopicsSource):
    """The paper's induced generation: k questions = ceil(k/6) topic sets x WHAT, WHO, WHY, WHERE, WHEN, HOW, cut to k."""

    method = "induced"
    template = INDUCED_QUESTION_PROMPT
    words = QUESTION_WORDS
