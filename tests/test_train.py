"""LoRA + DPO/SFT training, merging and version folders on a tiny random Llama built inside the test."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from selflearn.errors import UserError
from selflearn.types import Pair

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CORPUS = [
    "User: What is the capital of France?\nAssistant: Paris is the capital of France.",
    "User: Who wrote Hamlet?\nAssistant: William Shakespeare wrote Hamlet.",
    "User: Why is the sky blue?\nAssistant: Sunlight scatters off air molecules.",
    "I do not know the answer to that question about the unknown topic.",
    "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen.",
    "The quick brown fox jumps over the lazy dog 0123456789.",
]


def tiny_tokenizer():
    """A byte-level BPE tokenizer trained on CORPUS: BOS added like Llama's, no pad token (tests pad = eos)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 3, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")


def tiny_model(tokenizer, seed: int = 0):
    """A 2-layer random Llama with q_proj/v_proj, hidden 32."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(cfg).eval()


def save_tiny(path: Path, seed: int = 0) -> Path:
    """Write a tiny model and its tokenizer to path (what train_adapter/merge_adapter load)."""
    tok = tiny_tokenizer()
    tiny_model(tok, seed).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def chat(prompt: str) -> str:
    """The tests' chat format."""
    return f"User: {prompt}\nAssistant:\n"


def some_pairs(n: int = 4) -> list[Pair]:
    """Preference pairs in the paper's shape: learn pairs and one known pair with rejected '-'."""
    qs = ["What is the capital of France?", "Who wrote Hamlet?", "Why is the sky blue?", "What is photosynthesis?"]
    good = ["Paris is the capital of France.", "William Shakespeare wrote Hamlet.",
            "Sunlight scatters off air molecules.", "Photosynthesis turns light into sugar."]
    pairs = [Pair(prompt=chat(q), chosen=g, rejected="I do not know the answer.", kind="learn", question=q)
             for q, g in zip(qs, good)]
    pairs[-1] = Pair(prompt=pairs[-1].prompt, chosen=pairs[-1].chosen, rejected="-", kind="known")
    return pairs[:n]


def fast_config(**over):
    """Paper defaults except what makes a test take seconds."""
    from selflearn.train import TrainConfig

    base = dict(max_steps=4, per_device_train_batch_size=2, gradient_accumulation_steps=1, learning_rate=1e-3,
                warmup_ratio=0.0, save_steps=100, logging_steps=1, lora_r=4, lora_alpha=8)
    base.update(over)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("base") / "tiny")


def _logits(model, tokenizer, text: str = "User: Who wrote Hamlet?\nAssistant:\n"):
    import torch

    with torch.no_grad():
        return model(**tokenizer([text], return_tensors="pt")).logits


class _Snapshot:
    """A TrainerCallback that keeps the LoRA weights as they were when training began."""

    def __new__(cls):
        from transformers import TrainerCallback

        class Snap(TrainerCallback):
            before: dict = {}

            def on_train_begin(self, args, state, control, model=None, **kw):
                self.before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}

        return Snap()


def test_config_rejects_unknown_method():
    from selflearn.train import TrainConfig

    with pytest.raises(UserError, match="unknown training method"):
        TrainConfig(method="ppo")


def test_zero_pairs_raise_nothing_to_train(tmp_path):
    from selflearn.train import NothingToTrain, train_adapter

    with pytest.raises(NothingToTrain, match="no preference pairs"):
        train_adapter("unused", [], tmp_path)
    known_only = [Pair(prompt="p", chosen="c", rejected="-", kind="known")]
    with pytest.raises(NothingToTrain, match="'learn' pairs"):
        train_adapter("unused", known_only, tmp_path, fast_config(method="sft"))


def test_prompt_truncation_keeps_end_and_drops_duplicate_bos():
    from selflearn.train import _truncate_prompt

    tok = tiny_tokenizer()
    long = "The quick brown fox jumps over the lazy dog. " * 20 + "Who wrote Hamlet?"
    cut = _truncate_prompt(tok, long, 10)
    assert long.endswith(cut) and len(tok(cut, add_special_tokens=False)["input_ids"]) <= 11
    assert _truncate_prompt(tok, "<s>User: hi", 100) == "User: hi"


@pytest.mark.integration
def test_lora_dpo_changes_every_lora_parameter_and_reloads(base_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selflearn.train import ADAPTER_DIRNAME, FINISHED_MARKER, train_adapter

    tok = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    snap = _Snapshot()
    result = train_adapter(base_dir, some_pairs(), tmp_path / "run", fast_config(), model=model, tokenizer=tok,
                           callbacks=[snap])
    assert result.steps == 4 and Path(result.adapter_dir) == tmp_path / "run" / ADAPTER_DIRNAME
    assert (tmp_path / "run" / FINISHED_MARKER).is_file() and "train_loss" in result.metrics
    # The callback saw the PeftModel (names prefixed base_model.model.); model is the wrapped base it modified in place.
    after = {"base_model.model." + n: p.detach() for n, p in model.named_parameters() if "lora_" in n}
    assert len(snap.before) == 2 * 2 * 2  # 2 layers x (q_proj, v_proj) x (A, B)
    unchanged = [n for n, p in snap.before.items() if torch.allclose(p, after[n])]
    assert not unchanged, f"LoRA parameters that did not train: {unchanged}"
    cfg = json.loads((Path(result.adapter_dir) / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and sorted(cfg["target_modules"]) == ["q_proj", "v_proj"]
    assert cfg["base_model_name_or_path"] == str(base_dir.resolve())
    trained = _logits(model, tok)
    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), result.adapter_dir).eval()
    assert torch.allclose(_logits(reloaded, tok), trained, atol=1e-5)
    with reloaded.disable_adapter():
        assert not torch.allclose(_logits(reloaded, tok), trained, atol=1e-4)  # the adapter does something
    again = train_adapter(base_dir, some_pairs(), tmp_path / "run", fast_config())  # finished: reused, no training
    assert again.steps == 4 and again.metrics == result.metrics


@pytest.mark.integration
def test_sft_option_trains_on_learn_pairs(base_dir, tmp_path):
    from selflearn.train import train_adapter

    result = train_adapter(base_dir, some_pairs(), tmp_path / "sft", fast_config(method="sft", max_steps=2))
    assert result.steps == 2 and (Path(result.adapter_dir) / "adapter_model.safetensors").is_file()


@pytest.mark.integration
def test_dpo_with_sft_weight_adds_the_chosen_nll(base_dir, tmp_path):
    """sft_weight > 0: TRL's combined loss (sigmoid DPO + weight x NLL of the chosen answer), same steps."""
    from selflearn.train import train_adapter

    pure = train_adapter(base_dir, some_pairs(), tmp_path / "dpo", fast_config(max_steps=2))
    mixed = train_adapter(base_dir, some_pairs(), tmp_path / "rpo", fast_config(max_steps=2, sft_weight=1.0))
    assert mixed.steps == pure.steps == 2
    # A random tiny model's NLL per token is several nats; DPO's loss starts at log 2.
    assert mixed.metrics["train_loss"] > pure.metrics["train_loss"] + 1.0


@pytest.mark.integration
def test_resume_after_interrupted_run(base_dir, tmp_path):
    from transformers import TrainerCallback

    from selflearn.train import FINISHED_MARKER, train_adapter

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:
                raise KeyboardInterrupt("simulated kill")

    class Count(TrainerCallback):
        steps = 0
        started_at = None

        def on_train_begin(self, args, state, control, **kw):
            self.started_at = state.global_step

        def on_step_end(self, args, state, control, **kw):
            self.steps += 1

    out = tmp_path / "resume"
    with pytest.raises(KeyboardInterrupt):
        train_adapter(base_dir, some_pairs(), out, fast_config(save_steps=2), callbacks=[Crash()])
    assert (out / "checkpoint-2").is_dir() and not (out / FINISHED_MARKER).exists()
    count = Count()
    result = train_adapter(base_dir, some_pairs(), out, fast_config(save_steps=2), callbacks=[count])
    assert result.steps == 4 and count.steps == 2  # only steps 3 and 4 were run again
    assert (out / FINISHED_MARKER).is_file()


@pytest.mark.integration
def test_merge_matches_adapter_and_refuses_other_base(base_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selflearn.train import train_adapter
    from selflearn.versions import merge_adapter, read_version_meta

    result = train_adapter(base_dir, some_pairs(), tmp_path / "m", fast_config(max_steps=2))
    merged_dir = merge_adapter(base_dir, result.adapter_dir, tmp_path / "versions" / "v1")
    tok = AutoTokenizer.from_pretrained(merged_dir)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), result.adapter_dir).eval()
    assert torch.allclose(_logits(merged, tok), _logits(with_adapter, tok), atol=1e-4)
    meta = read_version_meta(merged_dir)
    assert meta.base == str(base_dir.resolve()) and meta.adapter == str(Path(result.adapter_dir).resolve())
    assert not list((tmp_path / "versions").glob(".*"))  # no temp folder left behind
    other = save_tiny(tmp_path / "other", seed=1)
    with pytest.raises(UserError, match="other"):
        merge_adapter(other, result.adapter_dir, tmp_path / "versions" / "v2")
    with pytest.raises(UserError, match="exists"):
        merge_adapter(base_dir, result.adapter_dir, merged_dir)


def test_version_meta_roundtrip(tmp_path):
    from selflearn.versions import read_version_meta, write_version_meta

    write_version_meta(tmp_path, parent="/a", base="/b", adapter="/c")
    meta = read_version_meta(tmp_path)
    assert (meta.parent, meta.base, meta.adapter) == ("/a", "/b", "/c") and meta.created_at
    with pytest.raises(UserError, match="no version metadata"):
        read_version_meta(tmp_path / "missing")


@pytest.mark.integration
def test_do_train_seed_signature(base_dir, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from selflearn.train import ADAPTER_DIRNAME, do_train

    import selflearn.train as train

    monkeypatch.setenv("SELFLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(train, "PASSAGE_PARAMS", train.PASSAGE_PARAMS.with_(max_new_tokens=8))  # speed only
    ds = [{"prompt": "Who wrote Hamlet?", "answer_text": "Shakespeare.", "answer_score": 0.2},
          {"prompt": "Who wrote Hamlet?", "answer_text": "William Shakespeare wrote Hamlet.", "answer_score": 0.9},
          {"prompt": "Why is the sky blue?", "answer_text": "", "answer_score": 0.9}]  # no answer: no pair
    tok = AutoTokenizer.from_pretrained(base_dir)
    ckpt = do_train(ds, ["Who wrote Hamlet?", "Why is the sky blue?"], chat, lambda r: r.split("Assistant:\n")[-1],
                    tok, str(base_dir), batch_size=2, max_epochs=1, lr=1e-3, deterministic=True)
    assert (Path(ckpt) / ADAPTER_DIRNAME / "adapter_config.json").is_file()
    assert Path(ckpt).parent == tmp_path / "cache" / "do_train"


def test_pairs_from_seed_records_pick_best_answer():
    from selflearn.train import pairs_from_seed_records

    ds = [{"prompt": "q", "answer_text": "low", "answer_score": 0.1}, {"prompt": "q", "answer_text": "high", "answer_score": 0.8}]
    pairs = pairs_from_seed_records(ds, ["q", "missing"], chat, ["mine", "x"])
    assert [(p.prompt, p.chosen, p.rejected, p.kind) for p in pairs] == [(chat("q"), "high", "mine", "learn")]


def test_target_modules_fallback_for_gpt2_style_names():
    import torch

    from selflearn.train import resolve_target_modules

    class Attn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.query_key_value = torch.nn.Linear(4, 12)
            self.dense = torch.nn.Linear(4, 4)

    assert resolve_target_modules(Attn(), ["q_proj", "v_proj"]) == ["query_key_value"]
    with pytest.raises(UserError, match="attention projections"):
        resolve_target_modules(torch.nn.Sequential(torch.nn.Linear(2, 2)), ["q_proj", "v_proj"])
