"""The transformers backend: batched, left-padded generation with any causal LM, on CPU or GPU."""

from __future__ import annotations

import copy
import logging
import os
import re
from pathlib import Path
from typing import Any, Sequence

from selflearn.errors import UserError
from selflearn.generate.chat import ChatFormat, encode_prompts, render_prompts
from selflearn.types import GenParams

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


class HFGenerator:
    """A transformers causal LM as a Generator: prompts sorted by length, cut into batches, n via num_return_sequences."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        chat_format: ChatFormat | None = None,
        *,
        batch_size: int = 32,
        max_batch_sequences: int = 256,
        device: str | None = None,
        name: str | None = None,
        progress: bool = False,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.chat_format = chat_format or ChatFormat()
        self.batch_size = max(1, batch_size)
        # Bounds prompts-per-batch × n, so 10 samples per prompt do not multiply memory tenfold.
        self.max_batch_sequences = max(1, max_batch_sequences)
        self.device = device
        self.name = name or str(getattr(model, "name_or_path", "") or type(model).__name__)
        self.progress = progress
        if device is not None:
            self.model.to(device)

    @classmethod
    def load(
        cls,
        name_or_path: str,
        *,
        chat_format: ChatFormat | None = None,
        dtype: str = "auto",
        device: str | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        **kwargs: Any,
    ) -> "HFGenerator":
        """Load DEFAULT_MODEL, a local folder, a .gguf file, or a hub id (cache first, never a network hang).

        threads: torch CPU threads for the process (None keeps torch's default); 1 is far faster on busy shared cores.
        """
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        model, tokenizer, name = load_model(name_or_path, dtype=dtype)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        return cls(model, tokenizer, chat_format, batch_size=batch_size, device=device, name=name, **kwargs)

    def with_chat_format(self, chat_format: ChatFormat) -> "HFGenerator":
        """The same model and tokenizer with another chat format (e.g. the seed's separate answer format)."""
        clone = copy.copy(self)
        clone.chat_format = chat_format
        return clone

    def render(self, prompts: Sequence[str]) -> list[str]:
        """The exact model-input strings of these user turns."""
        return render_prompts(self.chat_format, list(prompts), self.tokenizer)

    def generate(self, prompts: Sequence[str], *, n: int = 1, params: GenParams) -> list[list[str]]:
        """n completions per prompt, in the prompts' order; greedy n>1 returns copies of one completion."""
        import torch

        if not prompts:
            return []
        n_run = 1 if params.greedy else n  # greedy decoding is deterministic: compute once, copy
        ids = encode_prompts(self.chat_format, list(prompts), self.tokenizer)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: any OOM shows up at once
        per_batch = max(1, min(self.batch_size, self.max_batch_sequences // n_run))
        batches = [order[i : i + per_batch] for i in range(0, len(order), per_batch)]
        config = self._generation_config(params, n_run)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        results: list[list[str]] = [[] for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for batch in _progress(batches, self.progress):
                    texts = self._generate_batch([ids[i] for i in batch], config)
                    for k, i in enumerate(batch):
                        results[i] = texts[k * n_run : (k + 1) * n_run]
        finally:
            self.model.train(was_training)
        return [r * n if n_run == 1 and n > 1 else r for r in results]

    def _pad_id(self) -> int:
        """The pad token id, eos when the tokenizer has none (only for generation; the tokenizer is not changed)."""
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        if pad is None:
            eos = self.model.generation_config.eos_token_id
            pad = eos[0] if isinstance(eos, list) else eos
        if pad is None:
            raise UserError(f"model {self.name} has neither a pad nor an eos token; cannot batch generation")
        return int(pad)

    def _generation_config(self, params: GenParams, n_run: int) -> Any:
        """The model's generation config with this call's decoding settings on top."""
        config = copy.deepcopy(self.model.generation_config)
        settings: dict[str, Any] = dict(
            max_new_tokens=params.max_new_tokens,
            min_new_tokens=params.min_new_tokens,
            repetition_penalty=params.repetition_penalty,
            num_return_sequences=n_run,
            do_sample=not params.greedy,
            pad_token_id=self._pad_id(),
        )
        if not params.greedy:
            settings.update(temperature=params.temperature, top_p=params.top_p)
        else:  # sampling knobs left over from the model's config would only cause warnings
            settings.update(temperature=None, top_p=None, top_k=None)
        config.update(**settings)
        return config

    def _generate_batch(self, rows: list[list[int]], config: Any) -> list[str]:
        """Left-pad one batch, generate, and decode only the new tokens (n_run per row, row-major)."""
        import torch

        pad_id = config.pad_token_id
        width = max(len(r) for r in rows)
        input_ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
        device = self.model.device
        out = self.model.generate(
            input_ids=input_ids.to(device), attention_mask=mask.to(device), generation_config=config
        )
        decoded = self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        return [self.chat_format.extract(t) for t in decoded]


def _progress(batches: list, enabled: bool):
    """A tqdm bar over batches when enabled and more than one batch."""
    if not enabled or len(batches) < 2:
        return batches
    from tqdm.auto import tqdm

    return tqdm(batches, desc="generating", unit="batch")


def resolve_model(name_or_path: str) -> tuple[str, str, bool]:
    """(source, name, is_local) for DEFAULT_MODEL, a folder, a .gguf file (converted once) or a hub id; loads nothing."""
    from selflearn.generate.default_model import DEFAULT_MODEL, converted_gguf_path, default_model_path

    if name_or_path == DEFAULT_MODEL:
        return str(default_model_path()), DEFAULT_MODEL, True
    path = Path(name_or_path).expanduser()
    if path.exists():
        folder = converted_gguf_path(path) if path.suffix == ".gguf" else path
        return str(folder), str(path.resolve()), True
    if path.suffix == ".gguf" or name_or_path.startswith(("/", ".", "~")) or not _HUB_ID.match(name_or_path):
        raise UserError(f"model not found: {name_or_path!r} is neither {DEFAULT_MODEL!r} nor an existing path")
    return name_or_path, name_or_path, False


def load_model(name_or_path: str, *, dtype: str = "auto") -> tuple[Any, Any, str]:
    """(model, tokenizer, name) for DEFAULT_MODEL, a local folder, a .gguf file, or a hub id."""
    source, name, is_local = resolve_model(name_or_path)
    if is_local:
        return (*_load_folder(Path(source), dtype), name)
    return (*_load_hub(source, dtype), name)


def _load_folder(folder: Path, dtype: str) -> tuple[Any, Any]:
    """A local model folder; a folder that is not a model becomes a UserError."""
    try:
        return _from_pretrained(str(folder), dtype, local_files_only=True)
    except OSError as exc:
        raise UserError(f"{folder} is not a loadable transformers model folder: {exc}") from None


def _load_hub(repo_id: str, dtype: str) -> tuple[Any, Any]:
    """A hub id from the local cache first; the network only when HF_HUB_OFFLINE is not set."""
    try:
        return _from_pretrained(repo_id, dtype, local_files_only=True)
    except OSError as exc:
        cache_error = exc
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise UserError(
            f"model {repo_id!r} is not in the Hugging Face cache and HF_HUB_OFFLINE is set "
            f"(tried the local cache: {cache_error})"
        )
    try:
        return _from_pretrained(repo_id, dtype, local_files_only=False)
    except OSError as exc:
        raise UserError(f"cannot load model {repo_id!r}: not in the local cache, and the hub download failed: {exc}")


def _from_pretrained(source: str, dtype: str, *, local_files_only: bool) -> tuple[Any, Any]:
    """AutoModelForCausalLM + AutoTokenizer from a folder or hub id; a broken folder becomes a UserError."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_files_only)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=local_files_only)
    except ValueError as exc:  # e.g. an unrecognised config: the user's folder, not our bug
        raise UserError(f"cannot load model from {source!r}: {exc}") from None
    return model, tokenizer
