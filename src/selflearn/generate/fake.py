"""FakeGenerator: a deterministic stand-in for a model, for tests and the CLI's end-to-end runs (milliseconds).

Replies come from a queue, a function (prompt, i) -> str, or the scripted mode, which recognises the paper's
prompts (topics, questions, answers) and writes plausible, varied replies from a seed: some questions get samples
that agree with the passage (the model "knows"), others contradicting ones (a Point in the Unknown).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from selflearn.types import GenParams


@dataclass(frozen=True)
class FakeCall:
    """One recorded generate() call."""

    prompts: list[str]
    n: int
    params: GenParams


class FakeGenerator:
    """Replies from `replies` (in order, one per completion), then `fn(prompt, i)`, else the scripted mode."""

    def __init__(
        self,
        replies: Iterable[str] | None = None,
        fn: Callable[[str, int], str] | None = None,
        *,
        seed: int = 0,
        known_fraction: float = 0.5,
        name: str = "fake",
        delay: float = 0.0,
    ):
        self.replies = list(replies or [])
        self.fn = fn
        self.seed = seed
        self.known_fraction = known_fraction  # share of questions whose samples agree with the passage
        self.name = name
        self.calls: list[FakeCall] = []
        self.delay = delay  # seconds per generate() call: lets tests kill a CLI run mid-way

    @classmethod
    def from_env(cls) -> "FakeGenerator":
        """The CLI's `--backend fake`: scripted, slowed by $SELFLEARN_FAKE_DELAY seconds per call (tests only)."""
        import os

        return cls(delay=float(os.environ.get("SELFLEARN_FAKE_DELAY", "0") or 0))

    @classmethod
    def scripted(cls, seed: int = 0, known_fraction: float = 0.5) -> "FakeGenerator":
        """The ready-made mode: plausible topics, questions and answers, varied by seed."""
        return cls(seed=seed, known_fraction=known_fraction, name=f"fake-scripted-{seed}")

    def generate(self, prompts: Sequence[str], *, n: int = 1, params: GenParams) -> list[list[str]]:
        """n replies per prompt; records the call so tests can assert on batching."""
        call_no = len(self.calls)
        self.calls.append(FakeCall(list(prompts), n, params))
        if self.delay:
            import time

            time.sleep(self.delay)
        return [[self._reply(p, call_no, k, i, params) for i in range(n)] for k, p in enumerate(prompts)]

    def _reply(self, prompt: str, call_no: int, k: int, i: int, params: GenParams) -> str:
        if self.replies:
            return self.replies.pop(0)
        if self.fn is not None:
            return self.fn(prompt, i)
        if params.greedy:  # greedy decoding depends on the prompt only
            rng = _rng(self.seed, prompt)
        else:
            # A seeded call is reproducible on its own (as a seeded model call is), e.g. after a resume;
            # an unseeded one differs from call to call.
            rng = _rng(self.seed, params.seed, call_no if params.seed is None else None, k, i, prompt)
        return scripted_reply(prompt, rng, greedy=params.greedy, known=self._known(prompt))

    def _known(self, prompt: str) -> bool:
        return _rng(self.seed, "known", prompt).random() < self.known_fraction


def _rng(*parts: object) -> random.Random:
    """A Random seeded by a stable hash of parts (Python's hash() changes per process)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


TOPICS = (
    "quantum biology, deep sea vents, medieval trade routes, tardigrades, Byzantine music, exoplanet atmospheres, "
    "the Voynich manuscript, mycorrhizal networks, Sumerian beer, glacial lakes, Incan quipu, neutron stars, "
    "origami engineering, the Hanseatic League, coral bleaching, Baroque tuning systems, dark matter, lichen, "
    "Polynesian navigation, ancient Roman concrete, sonoluminescence, the Tunguska event, slime moulds, "
    "Mongolian throat singing, permafrost, the Antikythera mechanism, bioluminescence, Phoenician alphabet"
).split(", ")
WORDS = ("What", "Who", "Why", "Where", "When", "How")
NAMES = ("Ada Lindqvist", "Tomas Okafor", "Mei Tanaka", "Rafael Duarte", "Ingrid Solberg", "Kwame Mensah")
PLACES = ("Lisbon", "Kyoto", "Uppsala", "Nairobi", "Cusco", "Tallinn", "Hobart", "Marrakesh")
VERBS = ("first described", "first measured", "named", "mapped", "explained")


def scripted_reply(prompt: str, rng: random.Random, *, greedy: bool, known: bool) -> str:
    """A plausible reply to one of the paper's prompts (topics, question, answer), else an echo."""
    if prompt.startswith("Propose three topics"):
        return ", ".join(rng.sample(TOPICS, 3))
    if "propose only one question" in prompt:
        return _question(prompt, rng)
    if prompt.startswith("Answer concisely"):
        question = prompt.split(".", 1)[-1].strip()
        # The passage is the "true" fact; samples repeat it when known, else invent other facts.
        fact_rng = _rng("fact", question) if (greedy or known) else rng
        return _answer(fact_rng)
    return f"Reply to: {prompt[:80]}"


def _question(prompt: str, rng: random.Random) -> str:
    """A question about one of the listed topics, using the induced word when the prompt names one."""
    m = re.search(r"topics: (.*?)\. ", prompt)
    topics = [t.strip() for t in m.group(1).split(",")] if m else [rng.choice(TOPICS)]
    topic = rng.choice([t for t in topics if t] or [rng.choice(TOPICS)])
    w = re.search(r"using the word '(\w+)'", prompt)
    word = w.group(1).capitalize() if w else rng.choice(WORDS)
    tails = {
        "What": f"What is the main open problem in the study of {topic}?",
        "Who": f"Who first documented {topic}?",
        "Why": f"Why is {topic} so hard to study?",
        "Where": f"Where was {topic} first observed?",
        "When": f"When did research on {topic} begin?",
        "How": f"How does {topic} affect its surroundings?",
    }
    return tails.get(word, f"{word} about {topic}?")


def _answer(rng: random.Random) -> str:
    """One sentence stating an invented fact (who, when, where); which fact depends on rng's seed."""
    return f"It was {rng.choice(VERBS)} in {rng.randint(1650, 2015)} by {rng.choice(NAMES)} in {rng.choice(PLACES)}."
