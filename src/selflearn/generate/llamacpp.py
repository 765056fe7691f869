"""The llama.cpp backend: a GGUF model in-process, n samples per prompt decoded as parallel sequences.

Why not llama_cpp.Llama's completion API: it decodes one sequence at a time and re-evaluates the prompt for
each of the 10 samples. Here the prompt of a question is evaluated once into a "root" sequence of a unified
KV cache; each sample sequence shares those cells (llama_memory_seq_cp copies metadata, not tensors) and all
running sequences of all prompts advance together, one token each per llama_decode call (continuous batching:
a finished sequence's slot is refilled at once). On a small CPU that turns matrix-vector products into
matrix-matrix ones, which is where the speed comes from.

Prompts are rendered with our ChatFormat and the GGUF's own Jinja chat template (the template a converted
transformers folder carries too), so this engine and HFGenerator see the same prompt text. Sampling follows
transformers' defaults as the paper ran them: repetition penalty over prompt + completion, temperature,
top-k 50, top-p, at least min_new_tokens before EOS.
"""

from __future__ import annotations

import logging
import os
import random
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from selflearn.errors import UserError
from selflearn.generate.chat import ChatFormat, render_prompts
from selflearn.types import GenParams

log = logging.getLogger(__name__)

MISSING = "llama-cpp-python is not installed: pip install 'selflearn[llamacpp]'"
HF_TOP_K = 50  # transformers' default top_k when sampling, which the paper's generate() calls used


def _llama_cpp() -> Any:
    """The llama_cpp module, or a UserError saying how to install it."""
    try:
        import llama_cpp
    except ImportError:
        raise UserError(MISSING) from None
    return llama_cpp


def resolve_gguf(name_or_path: str) -> Path:
    """The GGUF file for DEFAULT_MODEL, a .gguf path, or a folder holding exactly one .gguf file."""
    from selflearn.generate.default_model import DEFAULT_MODEL, default_gguf_path

    if name_or_path == DEFAULT_MODEL:
        return default_gguf_path()
    path = Path(name_or_path).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.is_dir():
        found = sorted(path.glob("*.gguf"))
        if len(found) == 1:
            return found[0]
        raise UserError(
            f"{path} holds {len(found)} .gguf files; the llamacpp backend needs one GGUF file. A transformers folder "
            "(e.g. a merged trained model) must be converted first with llama.cpp's convert_hf_to_gguf.py, "
            "or run it with --backend transformers"
        )
    raise UserError(f"model not found: {name_or_path!r} is neither {DEFAULT_MODEL!r} nor an existing .gguf file")


class TemplateTokenizer:
    """Just enough of a tokenizer for ChatFormat.render: the GGUF's Jinja chat template, rendered as transformers does."""

    def __init__(self, chat_template: str | None, bos_token: str = "", eos_token: str = ""):
        self.chat_template = chat_template
        self.bos_token = bos_token
        self.eos_token = eos_token

    def apply_chat_template(self, messages: list[dict[str, str]], *, tokenize: bool = False,
                            add_generation_prompt: bool = True) -> str:
        """The conversation rendered with the template (a sandboxed Jinja environment, as transformers uses)."""
        from jinja2.exceptions import TemplateError
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        env.globals["raise_exception"] = raise_exception
        return env.from_string(self.chat_template or "").render(
            messages=messages, add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token, eos_token=self.eos_token)


@dataclass
class _Seq:
    """One completion being decoded: its slot (sequence id), the next token to feed and what it produced."""

    prompt: int
    k: int
    slot: int
    pos: int
    token: int
    sampler: Any
    out: list[int] = field(default_factory=list)
    index: int = -1  # this step's row in the batch


@dataclass
class _Root:
    """A prompt's shared KV cells (all prompt tokens but the last), kept until its last sample has copied them."""

    seq_id: int
    cells: int
    ready: bool = False
    started: int = 0
    finished: int = 0


class LlamaCppGenerator:
    """A GGUF model through llama.cpp as a Generator; up to n_seq completions decoded in parallel."""

    def __init__(self, model: Any, context: Any, *, chat_format: ChatFormat | None = None, n_seq: int = 32,
                 n_ctx: int = 2048, name: str | None = None):
        llama_cpp = _llama_cpp()
        self.model = model  # llama_cpp._internals.LlamaModel
        self.context = context  # llama_cpp._internals.LlamaContext with n_seq_max >= 2 * n_seq + 1, unified KV
        self.chat_format = chat_format or ChatFormat()
        self.n_seq = n_seq
        self.n_ctx = n_ctx  # per sequence: prompt + completion; also the most tokens one decode step takes
        self.kv_size = context.n_ctx()
        self.name = name or Path(model.path_model).name
        meta = model.metadata()
        self.tokenizer = TemplateTokenizer(meta.get("tokenizer.chat_template"), _piece(model, model.token_bos()),
                                           _piece(model, model.token_eos()))
        n_vocab = llama_cpp.llama_vocab_n_tokens(model.vocab)
        self.eog = frozenset(t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(model.vocab, t))

    @classmethod
    def load(cls, name_or_path: str, *, chat_format: ChatFormat | None = None, n_ctx: int = 2048,
             n_threads: int | None = None, n_seq: int = 32, kv_size: int | None = None,
             flash_attn: bool = True) -> "LlamaCppGenerator":
        """Load DEFAULT_MODEL's GGUF or any .gguf file.

        n_ctx: the longest prompt + completion of one sequence; n_seq: completions decoded in parallel;
        kv_size: KV cells shared by all sequences (default n_seq * 256 + n_ctx); n_threads: default all usable cores.
        """
        llama_cpp = _llama_cpp()
        from llama_cpp import _internals

        if not 1 <= n_seq <= 120:  # roots and slots share llama.cpp's 256 sequence ids
            raise UserError(f"n_seq must be between 1 and 120, got {n_seq}")
        path = resolve_gguf(name_or_path)
        threads = n_threads or len(os.sched_getaffinity(0))
        model = _internals.LlamaModel(path_model=str(path), params=llama_cpp.llama_model_default_params(),
                                      verbose=False)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = kv_size or n_seq * 256 + n_ctx
        params.n_batch = n_ctx  # one step may hold a whole prompt; llama.cpp splits it into ubatches of 512
        params.n_ubatch = min(n_ctx, 512)
        params.n_seq_max = 2 * n_seq + 1
        params.kv_unified = True  # one cell pool: sample sequences share their prompt's cells
        params.n_threads = params.n_threads_batch = threads
        params.no_perf = True
        # Flash attention skips masked KV cells: with one unified pool, each token then pays only for its own cells.
        params.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                  else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        context = _internals.LlamaContext(model=model, params=params, verbose=False)
        log.info("llama.cpp %s: %d threads, %d parallel sequences, %d KV cells", path.name, threads, n_seq,
                 params.n_ctx)
        return cls(model, context, chat_format=chat_format, n_seq=n_seq, n_ctx=n_ctx, name=str(path))

    def with_chat_format(self, chat_format: ChatFormat) -> "LlamaCppGenerator":
        """The same model and context with another chat format."""
        import copy

        clone = copy.copy(self)
        clone.chat_format = chat_format
        return clone

    def render(self, prompts: Sequence[str]) -> list[str]:
        """The exact model-input strings of these user turns (the same text HFGenerator.render gives)."""
        return render_prompts(self.chat_format, list(prompts), self.tokenizer)

    def encode(self, prompts: Sequence[str]) -> list[list[int]]:
        """Token ids of each rendered prompt (BOS only where the chat format needs it)."""
        out = []
        for text in self.render(prompts):
            bos = self.chat_format.add_special_tokens(text, self.tokenizer)
            out.append(self.model.tokenize(text.encode("utf-8"), bos, True))
        return out

    def generate(self, prompts: Sequence[str], *, n: int = 1, params: GenParams) -> list[list[str]]:
        """n completions per prompt, in the prompts' order; greedy n>1 returns copies of one completion."""
        if not prompts:
            return []
        n_run = 1 if params.greedy else n
        ids = self.encode(prompts)
        for row in ids:
            if len(row) + params.max_new_tokens > self.n_ctx:
                raise UserError(f"a prompt of {len(row)} tokens + {params.max_new_tokens} new tokens exceeds "
                                f"n_ctx={self.n_ctx}")
        seed = params.seed if params.seed is not None else random.SystemRandom().randrange(2**31)
        tokens = _Decoder(self, ids, n_run, params, seed).run()
        texts = [[self.chat_format.extract(self._detokenize(t)) for t in row] for row in tokens]
        return [row * n if n_run == 1 and n > 1 else row for row in texts]

    def _detokenize(self, tokens: list[int]) -> str:
        return self.model.detokenize(tokens, special=False).decode("utf-8", errors="replace")

    def new_sampler(self, params: GenParams, prompt: list[int], seed: int) -> Any:
        """A sampler chain for one sequence: penalties over prompt + completion, then greedy or sampled."""
        from llama_cpp import _internals

        sampler = _internals.LlamaSampler()
        if params.repetition_penalty != 1.0:
            # penalty_last_n = n_ctx covers the whole context, as transformers' repetition penalty does.
            sampler.add_penalties(0, self.n_ctx, params.repetition_penalty, 0.0, 0.0)
        if params.greedy:
            sampler.add_greedy()
        else:
            sampler.add_temp(params.temperature)
            sampler.add_top_k(HF_TOP_K)
            sampler.add_top_p(params.top_p, 1)
            sampler.add_dist(seed)
        for token in prompt:  # the penalty sampler remembers the prompt's tokens
            sampler.accept(token)
        return sampler


def _piece(model: Any, token: int) -> str:
    if token < 0:
        return ""
    return model.token_get_text(token)


class _Decoder:
    """One generate() call: a queue of (prompt, k) completions run through n_seq slots with shared prompt roots."""

    def __init__(self, gen: LlamaCppGenerator, ids: list[list[int]], n_run: int, params: GenParams, seed: int):
        self.gen, self.ids, self.n_run, self.params, self.seed = gen, ids, n_run, params, seed
        self.ctx = gen.context
        # Longest prompts first: their roots are the biggest, admit them while the pool is empty.
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        self.work = deque((p, k) for p in order for k in range(n_run))
        self.free_slots = list(range(gen.n_seq))
        self.free_roots = list(range(gen.n_seq, 2 * gen.n_seq + 1))
        self.roots: dict[int, _Root] = {}
        self.active: list[_Seq] = []
        self.waiting: list[_Seq] = []
        self.used = 0  # KV cells reserved: roots + max_new_tokens + 1 per running sequence
        self.results: list[list[list[int]]] = [[[] for _ in range(n_run)] for _ in ids]
        from llama_cpp import _internals

        self.batch = _internals.LlamaBatch(n_tokens=gen.n_ctx, embd=0, n_seq_max=1, verbose=False)

    def run(self) -> list[list[list[int]]]:
        """Decode until every completion is finished; token ids per prompt per completion."""
        self.ctx.kv_cache_clear()
        try:
            while self.work or self.active or self.waiting:
                self.batch.reset()
                self._start_waiting()
                for seq in self.active:
                    seq.index = self._add(seq.token, seq.pos, seq.slot, True)
                new_roots = self._admit()
                if self.batch.n_tokens() == 0:
                    raise RuntimeError("llama.cpp decoder stalled: nothing to decode")  # a bug, never a user error
                self.ctx.decode(self.batch)
                for root in new_roots:
                    root.ready = True
                self._sample_all()
        finally:
            self.ctx.kv_cache_clear()
            self.batch.close()
        return self.results

    def _add(self, token: int, pos: int, seq_id: int, logits: bool) -> int:
        b, i = self.batch.batch, self.batch.batch.n_tokens
        b.token[i], b.pos[i], b.seq_id[i][0], b.n_seq_id[i], b.logits[i] = token, pos, seq_id, 1, logits
        b.n_tokens = i + 1
        return i

    def _start_waiting(self) -> None:
        """Sequences whose root was decoded in the last step share its cells and join the batch."""
        still = []
        for seq in self.waiting:
            root = self.roots[seq.prompt]
            if root.ready:
                self.ctx.kv_cache_seq_cp(root.seq_id, seq.slot, -1, -1)
                self._root_started(seq.prompt)
                self.active.append(seq)
            else:
                still.append(seq)
        self.waiting = still

    def _admit(self) -> list[_Root]:
        """Take queued completions into free slots while KV cells and batch room allow; returns roots added now."""
        new_roots: list[_Root] = []
        need_seq = self.params.max_new_tokens + 1
        while self.work and self.free_slots:
            p, k = self.work[0]
            prompt = self.ids[p]
            root = self.roots.get(p)
            need = need_seq + (0 if root else len(prompt) - 1)
            if self.used + need > self.gen.kv_size:
                if self.active or self.waiting:
                    break  # wait for running sequences to free cells
                raise UserError(f"kv_size={self.gen.kv_size} is too small for one prompt of {len(prompt)} tokens + "
                                f"{self.params.max_new_tokens} new tokens")
            if root is None:
                if self.batch.n_tokens() + len(prompt) > self.gen.n_ctx:
                    break  # no room for this prompt in this step's batch
                root = _Root(self.free_roots.pop(), len(prompt) - 1, ready=len(prompt) == 1)
                for pos, token in enumerate(prompt[:-1]):
                    self._add(token, pos, root.seq_id, False)
                self.roots[p] = root
                self.used += root.cells
                if not root.ready:
                    new_roots.append(root)
            self.work.popleft()
            self.used += need_seq
            sampler = self.gen.new_sampler(self.params, prompt, _seq_seed(self.seed, p, k))
            seq = _Seq(p, k, self.free_slots.pop(), len(prompt) - 1, prompt[-1], sampler)
            self.waiting.append(seq)
        self._start_waiting_ready()
        return new_roots

    def _start_waiting_ready(self) -> None:
        """Sequences admitted this step whose root already exists can join this step's batch."""
        ready = [s for s in self.waiting if self.roots[s.prompt].ready]
        self._start_waiting()
        for seq in ready:
            seq.index = self._add(seq.token, seq.pos, seq.slot, True)

    def _root_started(self, p: int) -> None:
        root = self.roots[p]
        root.started += 1
        if root.started == self.n_run:  # every sample holds the cells now: the root's own id can go
            self.ctx.kv_cache_seq_rm(root.seq_id, -1, -1)
            self.free_roots.append(root.seq_id)

    def _sample_all(self) -> None:
        """Sample the next token of every sequence in this step's batch; finish those at EOS or max_new_tokens."""
        running = []
        for seq in self.active:
            if len(seq.out) < self.params.min_new_tokens:
                logits = self.ctx.get_logits_ith(seq.index)
                for t in self.gen.eog:  # transformers' min_new_tokens: EOS is impossible until then
                    logits[t] = float("-inf")
            token = seq.sampler.sample(self.ctx, seq.index)
            is_eog = token in self.gen.eog
            if not is_eog:
                seq.out.append(token)
            if is_eog or len(seq.out) >= self.params.max_new_tokens:
                self._finish(seq)
            else:
                seq.token, seq.pos = token, seq.pos + 1
                running.append(seq)
        self.active = running

    def _finish(self, seq: _Seq) -> None:
        self.ctx.kv_cache_seq_rm(seq.slot, -1, -1)
        self.free_slots.append(seq.slot)
        self.results[seq.prompt][seq.k] = seq.out
        seq.sampler.close()
        self.used -= self.params.max_new_tokens + 1
        root = self.roots[seq.prompt]
        root.finished += 1
        if root.finished == self.n_run:  # the shared prompt cells are free once no sample refers to them
            self.used -= root.cells
            del self.roots[seq.prompt]


def _seq_seed(seed: int, prompt: int, k: int) -> int:
    """A per-completion seed: a seeded call gives the same samples whatever the scheduling order."""
    return (seed * 1_000_003 + prompt * 10_007 + k) % (2**31 - 1)
