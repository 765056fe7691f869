"""The self-learning cycle: questions -> scoring -> metrics -> curation -> training -> merge/route -> evaluation.

Each cycle is a self-questioning run (runs.cycle = 1, 2, ...; parent_run_id = the previous cycle's run) and each
stage records itself in the stages table, so `selflearn learn --resume` continues a killed cycle at the stage it
was in, and a finished stage is never repeated. A cycle's model is the previous cycle's merged version.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from selflearn.config import Config, from_dict
from selflearn.errors import UserError
from selflearn.learnstages import curate_stage, evaluate_stage, integrate_stage, train_stage
from selflearn.loop import build, run_questions, start_questions_run
from selflearn.progress import Progress, SilentProgress
from selflearn.store import Store

log = logging.getLogger(__name__)

BASE_VERSION = "base"


def cycle_chain(store: Store) -> list[dict]:
    """The newest learning chain: its cycle runs in order (empty when none was ever started)."""
    runs = [r for r in store.runs("questions") if r["cycle"] is not None]
    if not runs:
        return []
    chain = [runs[-1]]
    while chain[0]["parent_run_id"] is not None:
        chain.insert(0, store.run(chain[0]["parent_run_id"]))
    return chain


def run_learning(store: Store, config: Config, *, cycles: int, resume: bool = False,
                 progress: Progress | None = None) -> list[dict]:
    """Run (or resume) `cycles` self-learning cycles; returns one summary row per cycle."""
    progress = progress or SilentProgress()
    chain = cycle_chain(store) if resume else []
    if resume and not chain:
        raise UserError(f"nothing to resume: no learning cycle in {store.path}")
    if resume:
        config = from_dict(chain[0]["config"])  # the chain goes on with the settings it started with
    summaries = []
    parent_run, model_path, version = None, config.generation.model, BASE_VERSION
    for number in range(1, cycles + 1):
        existing = chain[number - 1] if number <= len(chain) else None
        cycle_config = copy.deepcopy(config)
        cycle_config.generation.model = model_path
        cycle_config.questions.seed = config.questions.seed + number - 1  # new questions each cycle
        run_id = existing["id"] if existing else _start_cycle(store, cycle_config, number, parent_run)
        cycle_config = from_dict(store.run(run_id)["config"])
        summary = run_cycle(store, cycle_config, run_id, version=version, cycle=number, progress=progress)
        summaries.append(summary)
        if summary.get("new_version") is None:
            log.warning("cycle %d learned nothing (%s); stopping", number, summary.get("stopped"))
            break
        parent_run, version = run_id, summary["new_version"]
        model_path = store.version(version)["path"]
    return summaries


def _start_cycle(store: Store, config: Config, number: int, parent_run: int | None) -> int:
    run_id = start_questions_run(store, config, label=f"cycle {number}")
    store.db.execute("UPDATE runs SET cycle=?, parent_run_id=? WHERE id=?", (number, parent_run, run_id))
    return run_id


def run_cycle(store: Store, config: Config, run_id: int, *, version: str, cycle: int,
              progress: Progress | None = None) -> dict:
    """One cycle, stage after stage; each stage is skipped when the store says it is done."""
    progress = progress or SilentProgress()
    workspace = Path(config.workspace) if Path(config.workspace).is_absolute() else store.workspace
    loaded: list = []

    def built():
        """The asking model and its collaborators, loaded only if a stage still needs them (resume)."""
        if not loaded:
            loaded.append(build(config))
        return loaded[0]

    summary: dict = {"cycle": cycle, "run": run_id, "model": version}

    if _needs(store, run_id, "questions"):
        store.set_stage(run_id, "questions", "running")
        metrics = run_questions(store, config, run_id, built=built(), progress=progress, finish=False)
        store.set_stage(run_id, "questions", "done", **metrics)
    summary.update(store.stage(run_id, "questions"))

    if _needs(store, run_id, "curate"):
        store.set_stage(run_id, "curate", "running")
        store.set_stage(run_id, "curate", "done", **curate_stage(store, config, run_id, built(), progress))
    curation = store.stage(run_id, "curate")
    summary["pairs"] = curation.get("pairs", 0)

    if _needs(store, run_id, "train"):
        store.set_stage(run_id, "train", "running")
        store.set_stage(run_id, "train", "done", **train_stage(store, config, run_id, workspace, cycle, progress))
    training = store.stage(run_id, "train")
    if training.get("skipped"):
        store.finish_run(run_id)
        return {**summary, "new_version": None, "stopped": training["skipped"]}

    if _needs(store, run_id, "integrate"):
        store.set_stage(run_id, "integrate", "running")
        store.set_stage(run_id, "integrate", "done",
                        **integrate_stage(store, config, run_id, workspace, cycle, parent=version,
                                          adapter_dir=training["adapter_dir"]))
    new_version = store.stage(run_id, "integrate")["version"]

    if _needs(store, run_id, "evaluate"):
        loaded.clear()  # free the asking model: the evaluation loads each version itself
        store.set_stage(run_id, "evaluate", "running")
        store.set_stage(run_id, "evaluate", "done",
                        **evaluate_stage(store, config, run_id, before=version, after=new_version, progress=progress))
    store.finish_run(run_id)
    return {**summary, "new_version": new_version, **store.stage(run_id, "evaluate")}


def _needs(store: Store, run_id: int, stage: str) -> bool:
    state = store.stage(run_id, stage)
    return state is None or state["status"] != "done"

