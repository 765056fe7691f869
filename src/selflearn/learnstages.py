"""The stages of a learning cycle after self-questioning: curate, train, integrate (merge or route), evaluate.

Each takes the store and the cycle's config, reads what earlier stages stored, writes what it produces, and returns
a small dict of what it did (kept in the stages table and shown per cycle).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selflearn import components
from selflearn.config import Config
from selflearn.generate import ANSWER_PROMPT
from selflearn.progress import Progress
from selflearn.score.sentences import SentenceSplitter
from selflearn.split import split_run
from selflearn.store import Store
from selflearn.types import Pair

log = logging.getLogger(__name__)

SEARCH_BATCH = 32


def _hallucinated(store: Store, config: Config, run_id: int, scorer_name: str) -> list[tuple[int, str]]:
    split = split_run(store, run_id, scorer_name, config.scoring.threshold)
    return list(zip(split.ids[:split.n_hallucinated], split.questions[:split.n_hallucinated]))


def curate_stage(store: Store, config: Config, run_id: int, built: Any, progress: Progress) -> dict:
    """Search, read and extract evidence for Q_H (resumable per batch), judge the passages, build the pairs."""
    from selflearn.curate import Judgement, build_pairs, choose_reference, export_pairs_jsonl, verdict_counts

    qh = _hallucinated(store, config, run_id, built.parts.scorer_name)
    ids = [qid for qid, _ in qh]
    done = store.searched(ids)
    todo = [(qid, q) for qid, q in qh if qid not in done]
    if todo:
        engine = components.build_search_engine(config.search)
        reader = components.build_reader(config.search, cache=store)
        extractor = components.build_extractor(config.search, built.embedder)
        from selflearn.curate import gather_evidence

        with progress.task("search + read + extract", total=len(qh)) as bar:
            bar.advance(len(qh) - len(todo))
            for start in range(0, len(todo), SEARCH_BATCH):
                chunk = todo[start:start + SEARCH_BATCH]
                found = gather_evidence([q for _, q in chunk], engine, reader, extractor, k=config.search.k)
                store.add_search_results([(qid, found.get(q, [])) for qid, q in chunk])
                bar.advance(len(chunk))
    evidence = store.evidence(ids)
    if config.search.reference_model:
        evidence = _with_reference_answers(config, qh, evidence)
    passages = store.passages(ids)
    items = [Judgement(question=q, passage=passages[qid], reference=choose_reference(evidence.get(qid, [])))
             for qid, q in qh]
    judge, judge_name = components.build_judge(config.search, scorer=built.parts.scorer,
                                               scorer_name=built.parts.scorer_name)
    judged = judge.judge(items) if items else []
    store.add_judgements(judge_name, [(qid, j.reference, j.similarity, j.similarity_text)
                                      for (qid, _), j in zip(qh, judged)])
    generator = built.parts.generator
    render = getattr(generator, "render", None)
    def format_prompt(question: str) -> str:
        """The passage prompt in the model's own chat format, as the paper trained on it."""
        user_turn = ANSWER_PROMPT.format(question=question)
        return render([user_turn])[0] if render else user_turn

    pairs = build_pairs(judged, format_prompt=format_prompt, skip_known=config.search.skip_known)
    by_question = {q: qid for qid, q in qh}
    store.set_pairs(run_id, [(by_question.get(p.question), p) for p in pairs])
    path = export_pairs_jsonl(pairs, store.workspace / "pairs" / f"run-{run_id}.jsonl")
    return {"q_h": len(qh), "with_evidence": sum(bool(evidence.get(qid)) for qid in ids), "judge": judge_name,
            "verdicts": verdict_counts(judged), "pairs": len(pairs), "pairs_by_kind": pairs_summary(pairs),
            "pairs_file": str(path)}


def _with_reference_answers(config: Config, qh: list[tuple[int, str]], evidence: dict) -> dict:
    """A stronger LLM answers Q_H too (v4); its answers are stored as evidence and preferred as references."""
    from selflearn.config import GenerationConfig
    from selflearn.curate import LLM_SOURCE_PREFIX, reference_answers

    missing = [(qid, q) for qid, q in qh
               if not any(e.source_url.startswith(LLM_SOURCE_PREFIX) for e in evidence.get(qid, []))]
    if missing:
        gen = GenerationConfig(backend="openai", model=config.search.reference_model,
                               base_url=config.generation.base_url, system_prompt=None)
        answers = reference_answers([q for _, q in missing], components.build_generator(gen),
                                    name=config.search.reference_model)
        for qid, q in missing:
            evidence.setdefault(qid, []).append(answers[q])
    return evidence


def train_stage(store: Store, config: Config, run_id: int, workspace: Path, cycle: int, progress: Progress) -> dict:
    """LoRA + DPO (or SFT) on the run's pairs; a cycle with nothing to learn is skipped, not failed."""
    from selflearn.train import NothingToTrain, TrainConfig, train_adapter

    t = config.training
    train_config = TrainConfig(method=t.method, lora_r=t.lora_r, lora_alpha=t.lora_alpha,
                               lora_dropout=t.lora_dropout, beta=t.beta, sft_weight=t.sft_weight,
                               max_length=t.max_length, max_prompt_length=t.max_prompt_length,
                               learning_rate=t.learning_rate,
                               num_train_epochs=t.epochs, max_steps=t.max_steps,
                               per_device_train_batch_size=t.batch_size,
                               gradient_accumulation_steps=t.gradient_accumulation_steps,
                               seed=config.questions.seed)
    pairs = store.pairs(run_id)
    out = workspace / "training" / f"cycle-{cycle}-run-{run_id}"
    try:
        with progress.task(f"train ({t.method}, {len(pairs)} pairs)", total=1) as bar:
            result = train_adapter(components.model_path(config.generation), pairs, out, train_config)
            bar.advance()
    except NothingToTrain as exc:
        log.warning("%s", exc)
        return {"skipped": str(exc)}
    return {"checkpoint_dir": result.checkpoint_dir, "adapter_dir": result.adapter_dir, "steps": result.steps,
            "metrics": result.metrics}


def integrate_stage(store: Store, config: Config, run_id: int, workspace: Path, cycle: int, *, parent: str,
                    adapter_dir: str, name: str | None = None) -> dict:
    """Merge the adapter into a new model version (or keep it routed: Dyn-Adapt), recorded only when complete."""
    from selflearn.versions import merge_adapter

    base = components.model_path(config.generation)
    name = name or f"cycle-{cycle}-run-{run_id}"
    if config.training.integrate == "route":
        router_path = _train_router(store, config, run_id, base, adapter_dir)
        store.add_version(name, path=adapter_dir, parent=parent, base_model=base, run_id=run_id,
                          metrics={"integrate": "route", "router": router_path, "adapter": adapter_dir})
        return {"version": name, "integrate": "route", "router": router_path}
    target = workspace / "models" / name
    if not target.exists():
        merge_adapter(base, adapter_dir, target, parent=parent)
    store.add_version(name, path=str(target), parent=parent, base_model=base, run_id=run_id,
                      metrics={"integrate": "merge", "adapter": adapter_dir})
    return {"version": name, "integrate": "merge", "path": str(target)}


def _train_router(store: Store, config: Config, run_id: int, base: str, adapter_dir: str) -> str:
    from selflearn.dynadapt import train_router
    from selflearn.generate.hf import HFGenerator

    split = split_run(store, run_id, components.scorer_name(config.scoring), config.scoring.threshold)
    gen = HFGenerator.load(base, chat_format=components.chat_format(config.generation))
    prompts = gen.render([ANSWER_PROMPT.format(question=q) for q in split.questions])
    router = train_router(gen.model, gen.tokenizer, prompts[:split.n_hallucinated], prompts[split.n_hallucinated:])
    return str(router.save(Path(adapter_dir).parent / "router.json"))


@dataclass
class EvaluationSet:
    """What every version of a cycle is evaluated on: its Q_H, the learned reference answers, held-out texts."""

    questions: list[str]
    learned: list[tuple[str, str]]
    heldout: list[str]
    hallucination_at_selection: float | None


def evaluation_set(store: Store, config: Config, run_id: int) -> EvaluationSet:
    scorer_name = components.scorer_name(config.scoring)
    qh = _hallucinated(store, config, run_id, scorer_name)
    at_selection = store.passage_scores(run_id, scorer_name)
    return EvaluationSet(questions=[q for _, q in qh],
                         learned=[(p.question, p.chosen) for p in store.pairs(run_id) if p.kind == "learn"],
                         heldout=_heldout(store, config, [qid for qid, _ in qh]),
                         hallucination_at_selection=_mean([at_selection[qid] for qid, _ in qh]))


def evaluate_version(store: Store, config: Config, run_id: int, version: str, on: EvaluationSet, *,
                     progress: Progress, label: str = "", embedder: Any = None) -> dict:
    """One version on a cycle's evaluation set: hallucination re-scored with fresh answers, held-out perplexity,
    overlap of greedy answers with the learned references; stored as evaluations of (run, version)."""
    from selflearn import evaluate

    title = f"evaluate {label} ({version})" if label else f"evaluate {version}"
    with progress.task(title, total=3) as bar:
        generator = components.load_version(store, config, version)
        scorer = components.build_scorer(config.scoring, generator=generator,
                                         embedder=embedder or components.build_embedder(config.metrics))
        halluc = evaluate.hallucination_rescore(generator, scorer, SentenceSplitter(), on.questions)
        bar.advance()
        ppl = evaluate.perplexity(generator.model, generator.tokenizer, on.heldout) if on.heldout else {}
        bar.advance()
        # Asked as the pairs were trained on (the passage prompt in the model's chat format), not as bare questions.
        overlap = evaluate.answer_overlap(generator, [q for q, _ in on.learned], [r for _, r in on.learned],
                                          prompt_template=ANSWER_PROMPT) if on.learned else {}
        bar.advance()
    store.add_evaluation(run_id, version, "hallucination_on_learned_q_h", halluc["mean_score"] or math.nan,
                         {"share_hallucinated": halluc["share_hallucinated"], "n": halluc["n"]})
    for key, value in ppl.items():
        store.add_evaluation(run_id, version, f"perplexity_{key}", value, {"texts": len(on.heldout)})
    for key, value in overlap.items():
        store.add_evaluation(run_id, version, key, value, {"n": len(on.learned)})
    return {"version": version, "hallucination": halluc["mean_score"],
            "share_hallucinated": halluc["share_hallucinated"], **{f"ppl_{k}": v for k, v in ppl.items()}, **overlap}


def evaluate_stage(store: Store, config: Config, run_id: int, *, before: str, after: str,
                   progress: Progress) -> dict:
    """Hallucination on the learned Q_H, held-out perplexity and answer overlap, before and after training."""
    on = evaluation_set(store, config, run_id)
    result: dict[str, Any] = {"q_h": len(on.questions), "learned": len(on.learned), "heldout_texts": len(on.heldout),
                              "hallucination_at_selection": on.hallucination_at_selection}
    embedder = components.build_embedder(config.metrics)  # loaded once for both versions
    for label, version in (("before", before), ("after", after)):
        result[label] = evaluate_version(store, config, run_id, version, on, progress=progress, label=label,
                                         embedder=embedder)
    return result


def _heldout(store: Store, config: Config, qh_ids: list[int]) -> list[str]:
    """The user's held-out file, else WordNet glosses that were not evidence for anything learned."""
    from selflearn import evaluate

    if config.evaluation.heldout:
        return evaluate.heldout_texts_from(config.evaluation.heldout, n=config.evaluation.n_heldout)
    used = {e.full_text for records in store.evidence(qh_ids).values() for e in records}
    return evaluate.heldout_texts_default(n=config.evaluation.n_heldout, exclude=used)


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


def pairs_summary(pairs: list[Pair]) -> dict[str, int]:
    """Counts of pairs by kind."""
    return {kind: sum(p.kind == kind for p in pairs) for kind in ("learn", "known")}
