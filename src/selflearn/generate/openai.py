"""Any OpenAI-compatible server (vLLM, Ollama, llama.cpp server, TGI, OpenAI) over plain httpx.

One request per prompt asks for all n completions; requests run concurrently in a bounded thread pool; connection
errors, 429 and 5xx are retried with exponential back-off and jitter (Retry-After honoured); servers that return
fewer choices than asked (llama.cpp ignores n) are asked again for the rest.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from selflearn.errors import UserError
from selflearn.generate.chat import ChatFormat
from selflearn.types import GenParams

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_BACKOFF_S = 30.0


EXTRA_FIELDS = ("repetition_penalty", "min_tokens")  # sampling fields beyond OpenAI's API (vLLM, llama.cpp)


class OpenAIGenerator:
    """A Generator backed by /v1/chat/completions (or /v1/completions with chat=False) of any compatible server."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 4,
        timeout: float = 60,
        chat: bool = True,
        chat_format: ChatFormat | None = None,
        backoff: float = 0.5,
    ):
        self.model = model
        self.base_url = _v1_url(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.concurrency = max(1, concurrency)
        self.max_retries = max(0, max_retries)
        self.timeout = timeout
        self.chat = chat
        self.chat_format = chat_format or ChatFormat()
        self.backoff = backoff  # first retry waits about this long, doubling after each failure
        self.name = f"openai:{model}"
        self.unsupported: set[str] = set()  # extra fields this server refused; not sent again

    def generate(self, prompts: Sequence[str], *, n: int = 1, params: GenParams) -> list[list[str]]:
        """n completions per prompt, in order; greedy n>1 asks once and returns copies."""
        import httpx

        if not prompts:
            return []
        n_run = 1 if params.greedy else n
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout) as client:
            workers = min(self.concurrency, len(prompts))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(lambda p: self._complete(client, p, n_run, params), prompts))
        return [r * n if n_run == 1 and n > 1 else r for r in results]

    def _complete(self, client: Any, prompt: str, n: int, params: GenParams) -> list[str]:
        """All n completions of one prompt, asking again while the server returns fewer."""
        out: list[str] = []
        for request_no in range(n):  # at worst one choice per request (a server that ignores n)
            if len(out) >= n:
                break
            payload = self._payload(prompt, n - len(out), params, request_no)
            choices = sorted(self._post(client, payload)["choices"], key=lambda c: c.get("index", 0))
            out.extend(self.chat_format.extract(_choice_text(c)) for c in choices)
        if len(out) < n:
            raise UserError(f"{self.base_url} returned {len(out)} of {n} completions for one prompt")
        return out[:n]

    def _payload(self, prompt: str, n: int, params: GenParams, request_no: int) -> dict[str, Any]:
        """The request body; extras (repetition_penalty, min_tokens) only when they change anything."""
        body: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "temperature": 0.0 if params.greedy else params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
        }
        if self.chat:
            body["messages"] = self.chat_format.messages(prompt)
        else:
            body["prompt"] = self.chat_format.render(prompt)
        if params.seed is not None:
            # A follow-up request with the same seed would repeat the same samples.
            body["seed"] = params.seed + request_no
        if params.repetition_penalty != 1.0:
            body["repetition_penalty"] = params.repetition_penalty  # vLLM's extra sampling field
        if params.min_new_tokens > 1:
            body["min_tokens"] = params.min_new_tokens  # vLLM's extra field; OpenAI itself has none
        return {k: v for k, v in body.items() if k not in self.unsupported}

    def _post(self, client: Any, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with retries on connection errors, 429 and 5xx; other 4xx become a UserError."""
        import httpx

        path = "/chat/completions" if self.chat else "/completions"
        attempt = -1
        while attempt < self.max_retries:
            attempt += 1
            last = attempt == self.max_retries
            try:
                response = client.post(path, json=payload)
            except httpx.TransportError as exc:
                if last:
                    raise UserError(f"cannot reach {self.base_url}{path}: {exc!r}") from None
                self._sleep(attempt, None, f"connection error {exc!r}")
                continue
            if response.status_code == 429 or response.status_code >= 500:
                if last:
                    raise UserError(
                        f"{self.base_url}{path} failed {self.max_retries + 1} times; last: "
                        f"{response.status_code} {_server_message(response)}"
                    )
                self._sleep(attempt, response.headers.get("retry-after"), f"HTTP {response.status_code}")
                continue
            if response.status_code >= 400:
                message = _server_message(response)
                refused = [k for k in EXTRA_FIELDS if k in payload and k in message]
                if response.status_code in (400, 422) and refused:
                    # A strict server (transformers serve, OpenAI itself) refuses vLLM's extra sampling fields:
                    # sample without them from now on rather than fail the run.
                    log.warning("%s refuses %s; sampling without it", self.base_url, ", ".join(refused))
                    self.unsupported.update(refused)
                    payload = {k: v for k, v in payload.items() if k not in refused}
                    attempt -= 1  # not a failed attempt: the same request, asked the way this server accepts
                    continue
                raise UserError(f"{self.base_url}{path}: {response.status_code} {message}")
            return response.json()
        raise UserError(f"{self.base_url}{path}: no answer after {self.max_retries + 1} attempts")

    def _sleep(self, attempt: int, retry_after: str | None, why: str) -> None:
        """Wait before the next attempt: Retry-After when the server gives one, else back-off with jitter."""
        delay = _retry_after_seconds(retry_after)
        if delay is None:
            delay = min(MAX_BACKOFF_S, self.backoff * 2**attempt) * (0.5 + random.random())
        log.warning("%s from %s; retrying in %.2f s (attempt %d)", why, self.base_url, delay, attempt + 2)
        time.sleep(min(delay, MAX_BACKOFF_S * 2))


def _v1_url(base_url: str) -> str:
    """Accept both http://host:port and http://host:port/v1 (the OPENAI_BASE_URL convention)."""
    base = base_url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def _choice_text(choice: dict[str, Any]) -> str:
    """The text of one choice, chat or completion style."""
    if "message" in choice:
        return (choice["message"] or {}).get("content") or ""
    return choice.get("text") or ""


def _server_message(response: Any) -> str:
    """The server's error message: error.message of an OpenAI error body, else the raw text (shortened)."""
    try:
        body = response.json()
        err = body.get("error", body) if isinstance(body, dict) else body
        message = err.get("message", err) if isinstance(err, dict) else err
        return str(message)[:500]
    except ValueError:
        return response.text[:500]


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (a number or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())
