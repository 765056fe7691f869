"""How a user turn becomes model input: chat template, template string, the seed's prompt_fn, or a plain fallback.

One `ChatFormat` describes it for every backend. `render()` gives the exact model-input string (the DPO prompts are
written with it, so training sees what generation saw); `messages()` gives the chat-API form for servers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Callable

from selflearn.errors import UserError

log = logging.getLogger(__name__)

# PAPER.md: the system role used by the paper, and the assistant turn its Mistral variant adds.
DEFAULT_SYSTEM = "You are a student who is eager to learn about new things."
MISTRAL_PREAMBLE = (
    "I am a student who is eager to learn about new things. I am aware of my lack of knowledge about some things."
)
PLAIN_TEMPLATE = "{system}\n\nUser: {prompt}\nAssistant:"


@dataclass(frozen=True)
class ChatFormat:
    """How a user turn is wrapped. Exactly one style applies, checked in this order:

    prompt_fn (the seed's style) > template (a string with {system}, {prompt}, optional {preamble}) >
    the tokenizer's chat template > PLAIN_TEMPLATE (with a warning) when the tokenizer has none.
    """

    system: str | None = DEFAULT_SYSTEM
    # An assistant turn placed before the prompt, as the paper's Mistral variant: [user: system] [assistant: preamble].
    assistant_preamble: str | None = None
    template: str | None = None
    prompt_fn: Callable[[str], str] | None = None
    extract_response_fn: Callable[[str], str] | None = None

    def __post_init__(self) -> None:
        if self.template is not None and "{prompt}" not in self.template:
            raise UserError(f"chat template string must contain {{prompt}}: {self.template!r}")

    @property
    def style(self) -> str:
        """Which style applies: "prompt_fn", "template", or "chat_template" (plain if the tokenizer has none)."""
        if self.prompt_fn is not None:
            return "prompt_fn"
        if self.template is not None:
            return "template"
        return "chat_template"

    def with_(self, **changes: Any) -> "ChatFormat":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def messages(self, prompt: str) -> list[dict[str, str]]:
        """The conversation for a chat template or a chat API: system, optional preamble turn, then the prompt."""
        if self.assistant_preamble:
            # The paper's Mistral layout: the system text as a user turn, the assistant agrees, then the real prompt.
            return [
                {"role": "user", "content": self.system or ""},
                {"role": "assistant", "content": self.assistant_preamble},
                {"role": "user", "content": prompt},
            ]
        out = [{"role": "system", "content": self.system}] if self.system else []
        return out + [{"role": "user", "content": prompt}]

    def render(self, prompt: str, tokenizer: Any = None) -> str:
        """The exact model-input string for one user turn (ends where the assistant's answer begins)."""
        if self.prompt_fn is not None:
            return self.prompt_fn(prompt)
        if self.template is not None:
            return self.template.format(system=self.system or "", prompt=prompt, preamble=self.assistant_preamble or "")
        if tokenizer is not None and getattr(tokenizer, "chat_template", None):
            return _apply_chat_template(tokenizer, self.messages(prompt))
        if tokenizer is not None:
            log.warning("tokenizer has no chat template; using the plain format %r", PLAIN_TEMPLATE)
        return render_plain(self.messages(prompt))

    def extract(self, response: str) -> str:
        """The answer inside a decoded completion (extract_response_fn if given), stripped."""
        if self.extract_response_fn is not None:
            response = self.extract_response_fn(response)
        return response.strip()

    def add_special_tokens(self, text: str, tokenizer: Any) -> bool:
        """Whether encoding the rendered text should add the tokenizer's special tokens (BOS)."""
        if self.style == "chat_template" and getattr(tokenizer, "chat_template", None):
            return False  # chat templates write their own BOS where the model expects one
        bos = getattr(tokenizer, "bos_token", None)
        return not (bos and text.startswith(bos))


def _apply_chat_template(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """Render with the tokenizer's template; fold the system text into the first user turn if it rejects a system role."""
    from jinja2.exceptions import TemplateError

    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except TemplateError as exc:
        if messages[0]["role"] != "system":
            raise UserError(f"the model's chat template rejects this conversation: {exc}") from None
        folded = fold_system(messages)
        log.debug("chat template rejected a system role (%s); folding it into the user turn", exc)
        return tokenizer.apply_chat_template(folded, tokenize=False, add_generation_prompt=True)


def fold_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Move a leading system message into the first user turn (for templates without a system role)."""
    if not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return rest


def render_plain(messages: list[dict[str, str]]) -> str:
    """PLAIN_TEMPLATE generalised to any conversation: "{system}\\n\\nUser: ...\\nAssistant: ...\\nAssistant:"."""
    parts: list[str] = []
    for m in messages:
        if m["role"] == "system":
            parts.append(f"{m['content']}\n\n")
        else:
            speaker = "User" if m["role"] == "user" else "Assistant"
            parts.append(f"{speaker}: {m['content']}\n")
    return "".join(parts) + "Assistant:"


def render_prompts(chat_format: ChatFormat, prompts: list[str], tokenizer: Any = None) -> list[str]:
    """Render many user turns (warns once, not per prompt, when the plain fallback is used)."""
    if chat_format.style == "chat_template" and tokenizer is not None and not getattr(tokenizer, "chat_template", None):
        log.warning("tokenizer has no chat template; using the plain format %r", PLAIN_TEMPLATE)
        return [render_plain(chat_format.messages(p)) for p in prompts]
    return [chat_format.render(p, tokenizer) for p in prompts]


def encode_prompts(chat_format: ChatFormat, prompts: list[str], tokenizer: Any) -> list[list[int]]:
    """Token ids of each rendered user turn, with special tokens (BOS) only where the format needs them."""
    texts = render_prompts(chat_format, prompts, tokenizer)
    flags = [chat_format.add_special_tokens(t, tokenizer) for t in texts]
    out: list[list[int]] = [[] for _ in texts]
    for flag in set(flags):  # usually one tokenizer call for all prompts
        idx = [i for i, f in enumerate(flags) if f == flag]
        encoded = tokenizer([texts[i] for i in idx], add_special_tokens=flag)["input_ids"]
        for i, row in zip(idx, encoded):
            out[i] = list(row)
    return out
