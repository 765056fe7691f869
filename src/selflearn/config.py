"""Typed configuration, one section per stage. Precedence: defaults < config file (TOML) < command-line flags.

Unknown sections or keys are rejected with the list of valid ones; the resolved config is stored with each run.
A config file may be a path or the name of a shipped experiment config (src/selflearn/configs/NAME.toml).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selflearn.errors import UserError

PAPER_SYSTEM_PROMPT = "You are a student who is eager to learn about new things."
CONFIGS_DIR = Path(__file__).parent / "configs"


@dataclass
class GenerationConfig:
    """Which model answers, and how its prompts are formatted."""

    backend: str = "transformers"  # transformers | openai | vllm | llamacpp | baseline | fake
    model: str = "smollm2-135m-instruct"  # the embedded default, a local folder, a .gguf file or a hub id
    device: str | None = None  # cpu | cuda | cuda:1 ...; None picks CUDA when present
    dtype: str = "auto"
    batch_size: int = 32  # prompts per forward batch (x n samples sequences)
    system_prompt: str | None = PAPER_SYSTEM_PROMPT
    assistant_preamble: str | None = None  # the paper's Mistral variant adds an assistant turn
    prompt_template: str | None = None  # e.g. "### System:\n{system}\n### User:\n{prompt}\n### Assistant:\n"
    base_url: str | None = None  # openai backend; default $OPENAI_BASE_URL
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    tensor_parallel_size: int = 1


@dataclass
class QuestionsConfig:
    """Self-questioning: which method, how many questions, in which batches."""

    method: str = "oracle"  # open | induced | oracle | external | baseline
    n: int = 20
    batch_size: int = 16  # questions per stored batch: a kill loses at most one batch
    temperature: float = 1.0
    topics: str | None = None  # external: a topics file, an RSS/Atom URL, or "serpapi"; None = the paper's sets
    seed: int = 0


@dataclass
class ScoringConfig:
    """Hallucination scoring of each passage against its samples."""

    scorer: str = "offline"  # offline | nli | llm
    num_samples: int = 10
    threshold: float = 0.5
    nli_model: str = "potsawee/deberta-v3-large-mnli"
    checker_model: str | None = None  # llm scorer: a model for the transformers backend (default: the generator)
    batch_size: int = 64


@dataclass
class MetricsConfig:
    """Curiosity's embeddings and clustering."""

    embedder: str = "minilm"  # the packaged all-MiniLM-L6-v2, or any sentence-transformers folder / hub id
    reduce_dims: int | None = None  # PCA before HDBSCAN for very large runs


@dataclass
class SearchConfig:
    """Knowledge searching and curation."""

    engine: str = "local"  # local | google | serpapi | searxng
    index: str | None = None  # local index database; None = the WordNet gloss index
    searxng_url: str | None = None
    k: int = 3
    allow_private_hosts: bool = False
    extractor: str = "embedding"  # embedding (offline) | hf
    qa_model: str = "deepset/tinyroberta-squad2"
    summarizer: str = "facebook/bart-large-cnn"
    reference_model: str | None = None  # a stronger LLM answering Q_H too (openai-compatible model name)
    judge: str = "scorer"  # scorer (offline: the hallucination scorer) | llm
    judge_model: str | None = None
    skip_known: bool = False


@dataclass
class TrainingConfig:
    """LoRA + DPO (or SFT) on the curated pairs."""

    method: str = "dpo"  # dpo | sft
    epochs: float = 3.0
    batch_size: int = 4
    gradient_accumulation_steps: int = 8
    learning_rate: float = 3e-5
    lora_r: int = 64
    lora_alpha: int = 128
    lora_dropout: float = 0.05
    beta: float = 0.1
    sft_weight: float = 0.0  # dpo: > 0 adds the chosen answer's NLL with this weight (0 = the paper's pure DPO)
    max_length: int = 512
    max_prompt_length: int = 256
    max_steps: int = -1
    integrate: str = "merge"  # merge | route (Dyn-Adapt)


@dataclass
class EvaluationConfig:
    """After-training measures."""

    heldout: str | None = None  # a text/JSONL file of held-out passages; None = WordNet glosses not trained on
    n_heldout: int = 200
    judge_model: str | None = None


@dataclass
class Config:
    """The whole resolved configuration of a run."""

    workspace: str = "workspace"
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    questions: QuestionsConfig = field(default_factory=QuestionsConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (stored with each run)."""
        return dataclasses.asdict(self)


SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "workspace"}


def _section_class(name: str) -> type:
    return type(getattr(Config(), name))


def apply(config: Config, values: dict[str, Any], *, source: str) -> Config:
    """Overlay nested values ({"generation": {"model": ...}, ...}) onto config, rejecting unknown keys."""
    for key, value in values.items():
        if key == "workspace":
            config.workspace = str(value)
            continue
        if key not in SECTIONS:
            raise UserError(f"{source}: unknown section [{key}]; valid: workspace, {', '.join(SECTIONS)}")
        if not isinstance(value, dict):
            raise UserError(f"{source}: [{key}] must be a table of settings")
        section = getattr(config, key)
        valid = {f.name: f for f in dataclasses.fields(section)}
        for name, item in value.items():
            if name not in valid:
                raise UserError(f"{source}: unknown key {key}.{name}; valid: {', '.join(valid)}")
            setattr(section, name, _coerce(item, getattr(section, name), f"{key}.{name}", source))
    return config


def _coerce(value: Any, current: Any, name: str, source: str) -> Any:
    """Check a value against the type of the default it replaces (ints accepted for floats)."""
    if value is None or current is None:
        return value
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise UserError(f"{source}: {name} must be true or false, not {value!r}")
        return value
    if isinstance(current, (int, float)) and not isinstance(value, bool):
        try:
            return type(current)(value) if not (isinstance(current, int) and isinstance(value, float)) else value
        except (TypeError, ValueError):
            raise UserError(f"{source}: {name} must be a number, not {value!r}") from None
    if isinstance(current, str) and not isinstance(value, str):
        raise UserError(f"{source}: {name} must be a string, not {value!r}")
    return value


def find_config_file(name_or_path: str) -> Path:
    """A path to a TOML file, or the name of a shipped experiment config."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = CONFIGS_DIR / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    names = sorted(p.stem for p in CONFIGS_DIR.glob("*.toml"))
    raise UserError(f"no config file {name_or_path!r}; shipped configs: {', '.join(names)}")


def load_config(file: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the config file, then flag overrides (already nested by section)."""
    config = Config()
    if file:
        path = find_config_file(file)
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: not valid TOML: {exc}") from None
        apply(config, data, source=str(path))
    if overrides:
        apply(config, overrides, source="command line")
    return config


def from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a stored config (resume)."""
    return apply(Config(), data, source="stored run config")
