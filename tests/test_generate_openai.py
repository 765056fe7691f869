"""OpenAIGenerator against a real HTTP server on 127.0.0.1, started in the test (no network)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from selflearn.errors import UserError
from selflearn.generate.chat import DEFAULT_SYSTEM, ChatFormat
from selflearn.generate.openai import OpenAIGenerator, _retry_after_seconds
from selflearn.types import PASSAGE_PARAMS, SAMPLE_PARAMS


class FakeServer:
    """A tiny OpenAI-compatible server whose behaviour a test sets: ok, flaky, ignore_n, unauthorized, rate_limited."""

    def __init__(self, mode: str = "ok"):
        self.mode = mode
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.auth: list[str | None] = []
        self.lock = threading.Lock()
        self.failures = 0
        self.active = self.max_active = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    server.paths.append(self.path)
                    server.auth.append(self.headers.get("Authorization"))
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                try:
                    status, payload, headers = server.respond(self.path, body)
                finally:
                    with server.lock:
                        server.active -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def respond(self, path: str, body: dict):
        if self.mode == "unauthorized":
            return 401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, {}
        with self.lock:
            fail = self.mode in ("flaky", "rate_limited") and self.failures < 2
            self.failures += fail
        if fail and self.mode == "flaky":
            return 503, {"error": {"message": "loading model"}}, {}
        if fail:
            return 429, {"error": {"message": "slow down"}}, {"Retry-After": "0.01"}
        if self.mode == "strict" and {"repetition_penalty", "min_tokens"} & set(body):
            extra = {"repetition_penalty", "min_tokens"} & set(body)
            return 422, {"detail": f"Unexpected fields in the request: {extra}"}, {}  # as transformers serve says
        time.sleep(0.02)  # long enough for requests to overlap
        prompt = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
        n = 1 if self.mode == "ignore_n" else body.get("n", 1)
        texts = [f" {prompt} |seed={body.get('seed')}|{i} " for i in range(n)]
        key = "message" if path.endswith("/chat/completions") else "text"
        choices = [
            {"index": i, key: ({"role": "assistant", "content": t} if key == "message" else t)}
            for i, t in reversed(list(enumerate(texts)))  # out of order on purpose: the client sorts by index
        ]
        return 200, {"choices": choices}, {}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    servers: list[FakeServer] = []

    def start(mode: str = "ok") -> FakeServer:
        servers.append(FakeServer(mode))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def make(url: str, **kwargs) -> OpenAIGenerator:
    return OpenAIGenerator("tiny-model", base_url=url, api_key="k", backoff=0.01, timeout=5, **kwargs)


def test_chat_payload_order_and_samples(server):
    srv = server()
    prompts = [f"question {i}?" for i in range(6)]
    out = make(srv.url, concurrency=3).generate(prompts, n=3, params=SAMPLE_PARAMS.with_(seed=11))
    assert [[t.split(" |")[0] for t in r] for r in out] == [[p] * 3 for p in prompts]  # order kept
    assert out[0] == ["question 0? |seed=11|0", "question 0? |seed=11|1", "question 0? |seed=11|2"]
    body = srv.requests[0]
    assert srv.paths[0] == "/v1/chat/completions" and srv.auth[0] == "Bearer k"
    assert body["messages"][0] == {"role": "system", "content": DEFAULT_SYSTEM}
    assert body["n"] == 3 and body["temperature"] == 1.0 and body["max_tokens"] == 128 and body["seed"] == 11
    assert body["repetition_penalty"] == 1.1 and "min_tokens" not in body
    assert 1 < srv.max_active <= 3  # concurrent, and bounded


def test_greedy_sends_temperature_zero_once(server):
    srv = server()
    gen = make(srv.url + "/v1/")  # both URL forms work
    out = gen.generate(["q?"], n=4, params=PASSAGE_PARAMS.with_(repetition_penalty=1.0))
    assert out == [["q? |seed=None|0"] * 4]
    assert len(srv.requests) == 1
    body = srv.requests[0]
    assert body["temperature"] == 0.0 and body["n"] == 1
    assert "repetition_penalty" not in body and "seed" not in body


def test_strict_server_refusing_extra_fields_is_asked_without_them(server):
    srv = server("strict")
    gen = make(srv.url, max_retries=0)
    params = SAMPLE_PARAMS.with_(min_new_tokens=5)
    out = gen.generate(["q?"], n=2, params=params)
    assert len(out[0]) == 2 and gen.unsupported == {"repetition_penalty", "min_tokens"}
    assert len(srv.requests) == 2 and not {"repetition_penalty", "min_tokens"} & set(srv.requests[1])
    gen.generate(["again?"], n=2, params=params)
    assert len(srv.requests) == 3  # remembered: not refused again


def test_retries_503_twice_then_succeeds(server):
    srv = server("flaky")
    assert make(srv.url).generate(["q?"], params=PASSAGE_PARAMS) == [["q? |seed=None|0"]]
    assert len(srv.requests) == 3


def test_honours_retry_after_on_429(server):
    srv = server("rate_limited")
    assert make(srv.url).generate(["q?"], params=PASSAGE_PARAMS) == [["q? |seed=None|0"]]
    assert len(srv.requests) == 3


def test_gives_up_after_max_retries(server):
    srv = server("flaky")
    with pytest.raises(UserError, match="failed 2 times; last: 503 loading model"):
        make(srv.url, max_retries=1).generate(["q?"], params=PASSAGE_PARAMS)


def test_server_ignoring_n_is_asked_again_with_new_seeds(server):
    srv = server("ignore_n")
    out = make(srv.url).generate(["a?", "b?"], n=3, params=SAMPLE_PARAMS.with_(seed=5))
    assert out[1] == ["b? |seed=5|0", "b? |seed=6|0", "b? |seed=7|0"]
    assert sorted(r["n"] for r in srv.requests if r["messages"][-1]["content"] == "a?") == [1, 2, 3]


def test_401_is_a_user_error_with_server_message(server):
    srv = server("unauthorized")
    with pytest.raises(UserError, match="401 Incorrect API key provided"):
        make(srv.url).generate(["q?"], params=PASSAGE_PARAMS)
    assert len(srv.requests) == 1  # not retried


def test_unreachable_server_is_a_user_error():
    gen = make("http://127.0.0.1:9", max_retries=1)  # port 9 (discard): nothing listens
    with pytest.raises(UserError, match="cannot reach"):
        gen.generate(["q?"], params=PASSAGE_PARAMS)


def test_completions_mode_renders_prompt(server):
    srv = server()
    fmt = ChatFormat(template="### User:\n{prompt}\n### Assistant:\n", extract_response_fn=lambda r: r.split("\n")[-1])
    out = make(srv.url, chat=False, chat_format=fmt).generate(["hi"], params=PASSAGE_PARAMS)
    assert srv.paths[0] == "/v1/completions"
    assert srv.requests[0]["prompt"] == "### User:\nhi\n### Assistant:\n"
    assert out == [["|seed=None|0"]]  # the extract function saw the raw completion


def test_env_defaults(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    gen = OpenAIGenerator("m")
    assert gen.base_url == "http://localhost:8000/v1" and gen.api_key == "from-env"
    assert _retry_after_seconds("2") == 2.0 and _retry_after_seconds(None) is None
    assert _retry_after_seconds("not a date") is None
