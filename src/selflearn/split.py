"""A run's questions split into Points in the Unknown (Q_H) and the rest (Q_NH), in the seed's order."""

from __future__ import annotations

import math
from dataclasses import dataclass

from selflearn.store import Store


@dataclass
class RunSplit:
    """A run's questions split as the seed orders them: Q_H first, then Q_NH, each in proposal order."""

    ids: list[int]
    questions: list[str]
    hallucinated: list[bool]

    @property
    def n_hallucinated(self) -> int:
        return sum(self.hallucinated)


def split_run(store: Store, run_id: int, scorer_name: str, threshold: float) -> RunSplit:
    """Order a run's scored questions into the seed's proposed_questions order."""
    rows = store.question_rows(run_id)
    scores = store.passage_scores(run_id, scorer_name)
    flagged = [(r, (not math.isnan(scores[r["id"]])) and scores[r["id"]] > threshold)
               for r in rows if r["id"] in scores]
    ordered = [x for x in flagged if x[1]] + [x for x in flagged if not x[1]]
    return RunSplit([r["id"] for r, _ in ordered], [r["prompt"] for r, _ in ordered], [h for _, h in ordered])
