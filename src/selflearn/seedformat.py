"""The seed's result-file format: a pickled dictionary (SEED-README.md, "Results files").

Pickles execute code when loaded, so the paper's files are read with an unpickler that admits only
the numpy and builtin types such a file can hold; anything else is refused.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selflearn.store import Store

from selflearn.errors import UserError

# (module, name) pairs a seed result file may reference: numpy arrays, scalars and dtypes.
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("builtins", "float"),
    ("builtins", "int"),
    ("builtins", "complex"),
    ("collections", "OrderedDict"),
}
_NUMPY_DTYPE_CLASSES = ("numpy.dtypes", "numpy")


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED or (module in _NUMPY_DTYPE_CLASSES and name.endswith("DType")):
            if module.startswith("numpy.core."):  # files pickled under numpy 1.x; numpy 2 renamed the module
                module = "numpy._core." + module.removeprefix("numpy.core.")
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy types are allowed")


def load_result_file(path: str | Path) -> dict[str, Any]:
    """Load a seed/paper result pickle safely (numpy types only)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such result file: {p}")
    try:
        with p.open("rb") as fh:
            data = _NumpyOnlyUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise UserError(f"{p} is not a readable result file: {exc}") from None
    if not isinstance(data, dict) or "prompts_with_hallucination" not in data:
        raise UserError(f"{p} is not a seed result file (no 'prompts_with_hallucination' key)")
    return data


def dump_result_file(data: dict[str, Any], path: str | Path) -> None:
    """Write a result dictionary as a pickle the seed's code can load."""
    with Path(path).open("wb") as fh:
        pickle.dump(data, fh, protocol=4)


# ---- between the store and the seed's dictionary ---------------------------------------------------------------
STORED_SCORER = "stored"  # the scores a result file came with (the paper's: SelfCheckGPT-NLI)
STORED_EMBEDDER = "stored"


def _method_from_name(path: Path) -> str | None:
    stem = path.stem.lower()
    for key, method in (("extprompt", "external"), ("external", "external"), ("oracle", "oracle"),
                        ("induced", "induced"), ("open", "open")):
        if key in stem:
            return method
    return None


def import_result_file(store: "Store", path: str | Path, *, threshold: float = 0.5) -> int:
    """Import a seed/paper result file (pickle or our JSON export) as a run; returns the run id."""
    import numpy as np

    from selflearn.types import Answer, Question

    p = Path(path)
    data = load_json_result(p) if p.suffix.lower() == ".json" else load_result_file(p)
    entries = list(data["prompts_with_hallucination"]) + list(data.get("prompts_with_no_hallucination", []))
    method = _method_from_name(p) or "imported"
    run_id = store.create_run(kind="imported", method=method, model=data.get("pretrained_model_name"),
                              scorer=STORED_SCORER, seed=None, n_target=len(entries),
                              config={"imported_from": str(p.resolve())}, env={}, label=p.name)
    questions = [Question(topics=str(e.get("topics", "")), prompt=str(e["prompt"]), method=method) for e in entries]
    store.add_questions(run_id, 0, 0, questions)
    ids = [r["id"] for r in store.question_rows(run_id)]
    answers = [(qid, Answer(prompt=str(e["prompt"]), passage=str(e.get("passage", "")),
                            samples=[str(s) for s in e.get("samples", [])],
                            passage_sentences=[str(s) for s in e.get("passage_sentences", [])]))
               for qid, e in zip(ids, entries)]
    store.add_answers(answers, model_version=data.get("pretrained_model_name"))
    scores = []
    for qid, e in zip(ids, entries):
        sentence_scores = np.asarray(e.get("sentence_scores", []), dtype=float).reshape(-1)
        scores.append((qid, sentence_scores, float(e.get("average_score", np.nan))))
    store.add_scores(STORED_SCORER, scores)
    for field in ("prompt", "topics"):
        vectors = [(qid, np.asarray(e[f"{field}_embedding"], dtype=np.float32).reshape(-1))
                   for qid, e in zip(ids, entries) if e.get(f"{field}_embedding") is not None]
        if vectors:
            store.add_embeddings(field, STORED_EMBEDDER, vectors)
    if data.get("proposed_questions_labels") is not None:
        stored = {k: data.get(k) for k in ("curiosity_score", "knowledge_limit_awareness_score",
                                           "brevity_coefficient", "self_learning_capability_score")}
        stored.update(n=len(entries), n_hallucinated=len(data["prompts_with_hallucination"]))
        store.set_metrics(run_id, STORED_SCORER, "file", {k: _plain(v) for k, v in stored.items()},
                          [int(x) for x in data["proposed_questions_labels"]])
    store.finish_run(run_id)
    return run_id


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers (JSON)."""
    return value.item() if hasattr(value, "item") else value


def export_seed_dict(store: "Store", run_id: int, *, scorer: str, threshold: float, embedder: str) -> dict[str, Any]:
    """A run as the seed's result dictionary (every documented key; embeddings as numpy arrays)."""
    import numpy as np

    from selflearn.split import split_run

    run = store.run(run_id)
    metrics = store.metrics(run_id, scorer)
    if metrics is None:
        raise UserError(f"run {run_id} has no metrics for scorer {scorer!r} yet: run `selflearn metrics {run_id}`")
    split = split_run(store, run_id, scorer, threshold)
    rows = {r["id"]: r for r in store.question_rows(run_id)}
    answers = store.answers(split.ids)
    scores = store.scores(run_id, scorer)
    vectors = {f: store.embeddings(split.ids, f, embedder) for f in ("prompt", "topics")}
    entries = []
    for qid in split.ids:
        a = answers[qid]
        entries.append({
            "topics": rows[qid]["topics"], "topics_embedding": vectors["topics"].get(qid),
            "prompt": rows[qid]["prompt"], "prompt_embedding": vectors["prompt"].get(qid),
            "passage": a.passage, "passage_sentences": list(a.passage_sentences), "samples": list(a.samples),
            "sentence_scores": np.asarray(scores[qid][0]), "average_score": scores[qid][1],
        })
    n_h = split.n_hallucinated
    return {
        "pretrained_model_name": run["model"],
        "curiosity_score": metrics["curiosity_score"],
        "knowledge_limit_awareness_score": metrics["knowledge_limit_awareness_score"],
        "brevity_coefficient": metrics["brevity_coefficient"],
        "self_learning_capability_score": metrics["self_learning_capability_score"],
        "proposed_questions": list(split.questions),
        "proposed_questions_labels": [int(x) for x in metrics["labels"]],
        "prompts_with_hallucination": entries[:n_h],
        "prompts_with_no_hallucination": entries[n_h:],
    }


def to_jsonable(value: Any) -> Any:
    """numpy arrays and scalars -> lists and numbers, recursively (NaN -> null)."""
    import math

    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def load_json_result(path: Path) -> dict[str, Any]:
    """Our JSON export of the seed dictionary, read back."""
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not a readable JSON result file: {exc}") from None
    if not isinstance(data, dict) or "prompts_with_hallucination" not in data:
        raise UserError(f"{path} is not a result file (no 'prompts_with_hallucination' key)")
    return data


def export_run_file(store: "Store", run_id: int, path: str | Path, *, fmt: str, scorer: str | None,
                    embedder: Any, embedder_name: str) -> int:
    """Write a run as pickle/json/jsonl (embedding topics and questions once if the store lacks them)."""
    import json

    from selflearn.selfquestion import ensure_embeddings

    run = store.run(run_id)
    scorer = scorer or run["scorer"]
    threshold = run["config"].get("scoring", {}).get("threshold", 0.5)
    rows = store.question_rows(run_id)
    if run["kind"] == "imported":
        embedder_name = STORED_EMBEDDER if store.embeddings([r["id"] for r in rows], "prompt", STORED_EMBEDDER) \
            else embedder_name
    if embedder_name != STORED_EMBEDDER:
        ids = [r["id"] for r in rows]
        for field in ("prompt", "topics"):
            ensure_embeddings(store, ids, [r[field] for r in rows], field=field, embedder=embedder,
                              embedder_name=embedder_name)
    data = export_seed_dict(store, run_id, scorer=scorer, threshold=threshold, embedder=embedder_name)
    out = Path(path)
    try:
        if fmt == "pickle":
            dump_result_file(data, out)
        elif fmt == "json":
            out.write_text(json.dumps(to_jsonable(data)))
        else:
            with out.open("w") as fh:
                for label, key in (("Q_H", "prompts_with_hallucination"), ("Q_NH", "prompts_with_no_hallucination")):
                    for entry in data[key]:
                        fh.write(json.dumps(to_jsonable({"split": label, **entry})) + "\n")
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc}") from None
    return len(data["proposed_questions"])
