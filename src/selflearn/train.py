"""LoRA + DPO (or SFT) training through TRL/PEFT: the paper's "Training" step, resumable and launchable by accelerate.

Two deliberate differences from the reference code, both about TRL 1.16 and both documented here once:
- Pad token. The paper added a new pad token and resized the embeddings. That makes the adapter's base differ from
  the model on disk (embed_tokens/lm_head change shape), so merging and Dyn-Adapt would need the same resize first.
  We set pad = eos instead: TRL 1.16's collators build attention and loss masks from sequence lengths, never from the
  pad id, so an eos used as padding cannot hide a real eos, and the adapter applies to the unchanged base.
- max_prompt_length. TRL 1.16's DPOConfig only has max_length (keep_start truncation of prompt + completion). Prompts
  longer than max_prompt_length tokens are cut here, keeping their end (question and assistant turn), as old TRL did.

Multi-GPU: `accelerate launch --config_file configs/accelerate/ddp.yaml -m selflearn.train --model M --pairs P --out D`
(or fsdp.yaml); the Trainer does the distribution, this module only saves on the main process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from selflearn.errors import UserError
from selflearn.types import PASSAGE_PARAMS, Pair

log = logging.getLogger(__name__)

ADAPTER_DIRNAME = "injected_adapter"  # the seed's name: <checkpoint_dir>/injected_adapter
FINISHED_MARKER = "finished.json"  # written last: its presence means the adapter is complete
# Attention projections by architecture, tried in order when the configured names are absent from the model.
FALLBACK_TARGETS = (["q_proj", "v_proj"], ["c_attn"], ["query_key_value"], ["Wqkv"], ["qkv_proj"], ["q", "v"])


class NothingToTrain(UserError):
    """There are no preference pairs (or no "learn" pairs for SFT), so no adapter can be trained."""


@dataclass
class TrainConfig:
    """The paper's LoRA + DPO settings (PAPER.md, "Training"); every field is a knob the CLI may expose."""

    method: str = "dpo"  # "dpo" (DPOTrainer on all pairs) or "sft" (SFTTrainer on prompt + chosen of "learn" pairs)
    lora_r: int = 64
    lora_alpha: int = 128
    lora_dropout: float = 0.05
    lora_bias: str = "none"
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    beta: float = 0.1
    sft_weight: float = 0.0  # DPO only: > 0 adds this weight x the NLL of the chosen answer (RPO-style)
    max_length: int = 512
    max_prompt_length: int = 256
    learning_rate: float = 3e-5
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    optim: str = "adamw_torch"
    num_train_epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 8
    seed: int = 42
    precision: str = "auto"  # auto: bf16 where CUDA supports it, else fp32 | bf16 | fp32
    activation_checkpointing: bool | None = None  # None: on with CUDA (memory), off on CPU (speed)
    save_steps: int = 100
    save_total_limit: int = 2
    logging_steps: int = 10
    deterministic: bool = False

    def __post_init__(self) -> None:
        if self.method not in ("dpo", "sft"):
            raise UserError(f"unknown training method {self.method!r}: use 'dpo' or 'sft'")
        if self.sft_weight < 0:
            raise UserError(f"sft_weight must be >= 0, not {self.sft_weight}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise UserError(f"unknown precision {self.precision!r}: use 'auto', 'bf16' or 'fp32'")


@dataclass
class TrainResult:
    """Where the adapter is and what training reported."""

    checkpoint_dir: str
    adapter_dir: str
    metrics: dict[str, float]
    steps: int


def use_bf16(config: TrainConfig) -> bool:
    """Whether this config trains in bf16 on this machine."""
    import torch

    if config.precision == "auto":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return config.precision == "bf16"


def resolve_target_modules(model: Any, wanted: Sequence[str]) -> list[str]:
    """The configured LoRA target names if the model has them, else its attention projections (logged)."""
    import torch

    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    names |= {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if type(m).__name__ == "Conv1D"}  # GPT-2
    if set(wanted) <= names:
        return list(wanted)
    for candidate in FALLBACK_TARGETS:
        if set(candidate) <= names:
            log.warning("model has no %s; LoRA targets its attention projections %s instead", list(wanted), candidate)
            return list(candidate)
    raise UserError(f"cannot find attention projections for LoRA in this model; set target_modules (have {sorted(names)})")


def _truncate_prompt(tokenizer: Any, text: str, max_tokens: int) -> str:
    """Keep the last max_tokens tokens of a prompt, and drop a literal BOS the tokenizer would add again."""
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]:
        text = text[len(bos):]  # chat templates that render "<s>" plus a tokenizer that adds BOS = two BOS tokens
    if tokenizer.is_fast:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if len(enc["input_ids"]) > max_tokens:
            return text[enc["offset_mapping"][-max_tokens][0]:]
        return text
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if len(ids) <= max_tokens else tokenizer.decode(ids[-max_tokens:])


def _rows(pairs: Sequence[Pair], tokenizer: Any, config: TrainConfig) -> list[dict[str, str]]:
    """Plain-string rows (prompts are already chat-formatted, so TRL must not apply a template again)."""
    if config.method == "sft":
        return [{"prompt": _truncate_prompt(tokenizer, p.prompt, config.max_prompt_length), "completion": p.chosen}
                for p in pairs if p.kind == "learn"]
    return [{"prompt": _truncate_prompt(tokenizer, p.prompt, config.max_prompt_length),
             "chosen": p.chosen, "rejected": p.rejected} for p in pairs]


def _trainer_args(config: TrainConfig, out_dir: Path) -> Any:
    """A DPOConfig or SFTConfig carrying the shared Trainer settings."""
    import torch

    common = dict(
        output_dir=str(out_dir), learning_rate=config.learning_rate, lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_ratio,  # transformers 5: a float < 1 is a ratio (warmup_ratio was removed)
        weight_decay=config.weight_decay, optim=config.optim, num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps, per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, seed=config.seed,
        bf16=use_bf16(config), save_strategy="steps", save_steps=config.save_steps,
        save_total_limit=config.save_total_limit, logging_steps=config.logging_steps, report_to="none",
        activation_checkpointing=(torch.cuda.is_available() if config.activation_checkpointing is None
                                  else config.activation_checkpointing),
        dataloader_pin_memory=torch.cuda.is_available(),
        full_determinism=config.deterministic, max_length=config.max_length,
    )
    if config.method == "sft":
        from trl import SFTConfig

        return SFTConfig(**common)
    from trl import DPOConfig

    if config.sft_weight > 0:
        # DPO's preference loss plus the chosen answer's NLL: the model moves towards the learned answer itself,
        # not only away from its rejected one (TRL combines listed loss types with these weights).
        return DPOConfig(beta=config.beta, loss_type=["sigmoid", "sft"], loss_weights=[1.0, config.sft_weight],
                         **common)
    return DPOConfig(beta=config.beta, **common)


def _load(model_path: str, config: TrainConfig, model: Any, tokenizer: Any) -> tuple[Any, Any]:
    """Load (or take) the base model and tokenizer; pad = eos when the tokenizer has no pad (see module doc)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(model_path)
        if model is None:
            dtype = torch.bfloat16 if use_bf16(config) else torch.float32
            model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    except OSError as exc:
        raise UserError(f"cannot load model {model_path!r}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
        log.info("tokenizer has no pad token: using eos (%r) as pad, embeddings unchanged", tokenizer.eos_token)
    return model, tokenizer


def _finished(out: Path) -> TrainResult | None:
    """The result of an earlier completed run in out, if its marker exists."""
    marker = out / FINISHED_MARKER
    if not marker.is_file():
        return None
    data = json.loads(marker.read_text())
    return TrainResult(str(out), str(out / ADAPTER_DIRNAME), data["metrics"], int(data["steps"]))


def _collect_metrics(trainer: Any, train_output: Any) -> dict[str, float]:
    """Last logged value of every numeric metric (DPO rewards, margins, loss) plus the Trainer's run summary."""
    merged: dict[str, float] = {}
    for entry in trainer.state.log_history:
        merged.update({k: float(v) for k, v in entry.items() if isinstance(v, (int, float))})
    merged.update({k: float(v) for k, v in train_output.metrics.items() if isinstance(v, (int, float))})
    return merged


def train_adapter(model_path: str | Path, pairs: Sequence[Pair], out_dir: str | Path,
                  config: TrainConfig | None = None, *, model: Any = None, tokenizer: Any = None,
                  callbacks: Sequence[Any] = ()) -> TrainResult:
    """Train a LoRA adapter on pairs (DPO, reference = adapter-disabled base) into out_dir/injected_adapter; resumable.

    model/tokenizer: already loaded objects to use instead of loading model_path (the model is modified in place).
    callbacks: transformers TrainerCallback objects (progress bars, tests). A finished out_dir is reused as is.
    """
    config = config or TrainConfig()
    pairs = list(pairs)
    if not pairs or (config.method == "sft" and not any(p.kind == "learn" for p in pairs)):
        what = "'learn' pairs" if pairs else "preference pairs"
        raise NothingToTrain(f"nothing to train: no {what} (no Points in the Unknown with found answers?)")
    out = Path(out_dir)
    done = _finished(out)
    if done is not None:
        log.info("training in %s already finished; reusing its adapter", out)
        return done
    from peft import LoraConfig
    from transformers.trainer_utils import get_last_checkpoint

    # Resolved, so the adapter records the base it belongs to and merge_adapter can check it.
    local = Path(model_path)
    model_path = str(local.resolve()) if local.exists() else str(model_path)
    model, tokenizer = _load(model_path, config, model, tokenizer)
    from datasets import Dataset

    dataset = Dataset.from_list(_rows(pairs, tokenizer, config))
    targets = resolve_target_modules(model, config.target_modules)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      bias=config.lora_bias, task_type="CAUSAL_LM", target_modules=targets)
    args = _trainer_args(config, out)
    if config.method == "sft":
        from trl import SFTTrainer

        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                             peft_config=lora, callbacks=list(callbacks))
    else:
        from trl import DPOTrainer

        # ref_model=None with a PEFT model: TRL computes reference log-probs with the adapter disabled (one weight copy).
        trainer = DPOTrainer(model=model, ref_model=None, args=args, train_dataset=dataset,
                             processing_class=tokenizer, peft_config=lora, callbacks=list(callbacks))
    _quiet(trainer)
    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    if last:
        log.info("resuming training from %s", last)
    train_output = trainer.train(resume_from_checkpoint=last)
    metrics = _collect_metrics(trainer, train_output)
    _save_adapter(trainer, out, metrics, train_output.global_step, config)
    return TrainResult(str(out), str(out / ADAPTER_DIRNAME), metrics, int(train_output.global_step))


def _quiet(trainer: Any) -> None:
    """Training logs go to logging, not stdout: the CLI's stdout is its summary (and --json must stay JSON)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


def _save_adapter(trainer: Any, out: Path, metrics: dict[str, float], steps: int, config: TrainConfig) -> None:
    """Save the adapter to a temp folder, rename it into place, then write the finished marker (main process only)."""
    tmp = out / f".{ADAPTER_DIRNAME}.tmp"
    if trainer.is_world_process_zero() and tmp.exists():
        shutil.rmtree(tmp)  # left by a run killed while saving
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))  # every rank: under FSDP the full state dict is gathered collectively
    if trainer.is_world_process_zero():
        final = out / ADAPTER_DIRNAME
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        payload = {"steps": int(steps), "metrics": metrics, "method": config.method, "config": asdict(config)}
        marker_tmp = out / f".{FINISHED_MARKER}.tmp"
        marker_tmp.write_text(json.dumps(payload, indent=2))
        os.replace(marker_tmp, out / FINISHED_MARKER)  # a half-written marker must never count as finished
        log.info("adapter saved to %s after %d steps", final, steps)
    trainer.accelerator.wait_for_everyone()


def pairs_from_seed_records(ds: Sequence[dict], questions: Sequence[str], prompt_format_fn: Callable[[str], str],
                            own_answers: Sequence[str]) -> list[Pair]:
    """The v4 rule without a judge: chosen = the best found answer, rejected = the model's own greedy answer."""
    best: dict[str, dict] = {}
    for rec in ds:
        text = str(rec.get("answer_text") or "").strip()
        if text and (rec["prompt"] not in best or rec.get("answer_score", 0) > best[rec["prompt"]].get("answer_score", 0)):
            best[rec["prompt"]] = rec
    return [Pair(prompt=prompt_format_fn(q), chosen=best[q]["answer_text"].strip(), rejected=own, kind="learn", question=q)
            for q, own in zip(questions, own_answers) if q in best]


def _greedy_answers(model: Any, tokenizer: Any, prompts: Sequence[str], batch_size: int) -> list[str]:
    """Full decoded greedy outputs (prompt included, special tokens removed) with the paper's passage settings."""
    import torch

    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    outs: list[str] = []
    try:
        for i in range(0, len(prompts), batch_size):
            enc = tokenizer(list(prompts[i:i + batch_size]), return_tensors="pt", padding=True).to(model.device)
            with torch.no_grad():
                gen = model.generate(**enc, do_sample=False, max_new_tokens=PASSAGE_PARAMS.max_new_tokens,
                                     min_new_tokens=PASSAGE_PARAMS.min_new_tokens,
                                     repetition_penalty=PASSAGE_PARAMS.repetition_penalty,
                                     pad_token_id=tokenizer.pad_token_id)
            outs += tokenizer.batch_decode(gen, skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return outs


def do_train(ds: Sequence[dict], questions_with_hallucination: Sequence[str], prompt_format_fn: Callable[[str], str],
             extract_response_fn: Callable[[str], str], tokenizer: Any, model_name_or_path: str, batch_size: int = 4,
             max_epochs: int = 10, lr: float = 3e-5, deterministic: bool = True) -> str:
    """The seed's do_train: build pairs from build_dataset records, train LoRA+DPO, return the checkpoint dir."""
    import torch
    from transformers import AutoModelForCausalLM

    from selflearn.resources import cache_dir

    config = TrainConfig(per_device_train_batch_size=batch_size, num_train_epochs=max_epochs, learning_rate=lr,
                         deterministic=deterministic)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    found = {r.get("prompt") for r in ds}
    questions = [q for q in questions_with_hallucination if q in found]
    model = AutoModelForCausalLM.from_pretrained(model_name_or_path,
                                                 dtype=torch.bfloat16 if use_bf16(config) else torch.float32)
    if torch.cuda.is_available():
        model.to("cuda")  # the Trainer would move it anyway; the greedy answers are faster there too
    raw = _greedy_answers(model, tokenizer, [prompt_format_fn(q) for q in questions], batch_size)
    pairs = pairs_from_seed_records(ds, questions, prompt_format_fn, [extract_response_fn(r).strip() for r in raw])
    # A folder named by what is trained, so calling again with the same inputs resumes or reuses the finished run.
    key = hashlib.sha256(json.dumps([str(model_name_or_path), [asdict(p) for p in pairs], asdict(config)],
                                    sort_keys=True, default=str).encode()).hexdigest()[:16]
    result = train_adapter(model_name_or_path, pairs, cache_dir() / "do_train" / key, config,
                           model=model, tokenizer=tokenizer)
    return result.checkpoint_dir


def load_pairs_jsonl(path: str | Path) -> list[Pair]:
    """Pairs from a JSONL file of {prompt, chosen, rejected[, kind, question]} objects."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such pairs file: {p}")
    pairs = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        if line.strip():
            try:
                obj = json.loads(line)
                pairs.append(Pair(prompt=obj["prompt"], chosen=obj["chosen"], rejected=obj["rejected"],
                                  kind=obj.get("kind", "learn"), question=obj.get("question", "")))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise UserError(f"{p}:{n}: not a pair object ({exc})") from None
    return pairs


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point for `accelerate launch -m selflearn.train`: train one adapter from a pairs JSONL."""
    ap = argparse.ArgumentParser(prog="python -m selflearn.train", description=main.__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--method", default="dpo", choices=["dpo", "sft"])
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--max-steps", type=int, default=-1)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--grad-accum", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-5)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    config = TrainConfig(method=a.method, num_train_epochs=a.epochs, max_steps=a.max_steps,
                         per_device_train_batch_size=a.batch_size, gradient_accumulation_steps=a.grad_accum,
                         learning_rate=a.lr)
    result = train_adapter(a.model, load_pairs_jsonl(a.pairs), a.out, config)
    log.info("adapter: %s (%d steps)", result.adapter_dir, result.steps)


if __name__ == "__main__":
    main()
