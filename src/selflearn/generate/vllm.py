"""In-process vLLM on a GPU: one llm.generate call for all prompts, n samples per prompt, optional LoRA adapter.

Prompts are rendered and tokenised by our ChatFormat (as in the transformers backend) and passed as token ids, so
both backends feed the model exactly the same input and vLLM adds no second BOS.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from selflearn.errors import UserError
from selflearn.generate.chat import ChatFormat, encode_prompts, render_prompts
from selflearn.types import GenParams

log = logging.getLogger(__name__)

NOT_INSTALLED = "vllm is not installed: pip install 'selflearn[vllm]' on a GPU machine"


def _import_vllm() -> Any:
    """The vllm module, or a UserError saying how to get it."""
    try:
        import vllm
    except ImportError:
        raise UserError(NOT_INSTALLED) from None
    return vllm


class VLLMGenerator:
    """A Generator backed by vllm.LLM (model: DEFAULT_MODEL, a folder, a .gguf file or a hub id)."""

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        enable_lora: bool = False,
        max_lora_rank: int = 64,
        lora_path: str | None = None,
        chat_format: ChatFormat | None = None,
        dtype: str = "auto",
        progress: bool = False,
    ):
        from selflearn.generate.hf import resolve_model

        vllm = _import_vllm()
        source, self.name, _ = resolve_model(model)
        enable_lora = enable_lora or lora_path is not None
        kwargs: dict[str, Any] = dict(
            model=source, tensor_parallel_size=tensor_parallel_size, gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype, enable_lora=enable_lora,
        )
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        if enable_lora:
            kwargs["max_lora_rank"] = max_lora_rank  # vLLM's default (16) is below the paper's r = 64
        self.llm = vllm.LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.chat_format = chat_format or ChatFormat()
        self.progress = progress
        self.lora_request = None
        if lora_path is not None:
            from vllm.lora.request import LoRARequest

            self.lora_request = LoRARequest("selflearn-adapter", 1, lora_path)
            self.name = f"{self.name}+lora:{lora_path}"

    def render(self, prompts: Sequence[str]) -> list[str]:
        """The exact model-input strings of these user turns."""
        return render_prompts(self.chat_format, list(prompts), self.tokenizer)

    def generate(self, prompts: Sequence[str], *, n: int = 1, params: GenParams) -> list[list[str]]:
        """n completions per prompt in one llm.generate call; greedy n>1 returns copies of one completion."""
        from vllm import SamplingParams

        if not prompts:
            return []
        n_run = 1 if params.greedy else n
        sampling = SamplingParams(
            n=n_run,
            temperature=0.0 if params.greedy else params.temperature,
            top_p=1.0 if params.greedy else params.top_p,
            max_tokens=params.max_new_tokens,
            min_tokens=params.min_new_tokens,
            repetition_penalty=params.repetition_penalty,
            seed=params.seed,
            skip_special_tokens=True,
        )
        ids = encode_prompts(self.chat_format, list(prompts), self.tokenizer)
        outputs = self.llm.generate(
            [{"prompt_token_ids": row} for row in ids], sampling, use_tqdm=self.progress,
            lora_request=self.lora_request,
        )
        results = [[self.chat_format.extract(c.text) for c in out.outputs] for out in outputs]
        return [r * n if n_run == 1 and n > 1 else r for r in results]
