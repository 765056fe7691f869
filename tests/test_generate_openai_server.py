"""The openai backend against a real OpenAI-compatible server: `transformers serve` with the embedded default model,
started on 127.0.0.1 by the test (no network). That server ignores `n`, so this also proves the fallback of asking
again until every prompt has its n samples."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from selflearn.cli import app
from selflearn.generate.default_model import default_model_path
from selflearn.generate.openai import OpenAIGenerator
from selflearn.store import Store
from selflearn.types import PASSAGE_PARAMS, SAMPLE_PARAMS

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    model = str(default_model_path())
    port = _free_port()
    exe = Path(sys.executable).with_name("transformers")
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"selflearn-serve-{port}.log", "w")
    proc = subprocess.Popen([str(exe), "serve", model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"{base}/models", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"transformers serve did not start (see {log.name})")
            time.sleep(1)
        yield {"base_url": base, "model": model}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_samples_and_greedy_from_a_real_server(server):
    gen = OpenAIGenerator(server["model"], base_url=server["base_url"], concurrency=4, timeout=120)
    prompts = ["Name one fruit.", "What colour is the sky?"]
    short = replace(SAMPLE_PARAMS, max_new_tokens=16, seed=1)
    samples = gen.generate(prompts, n=3, params=short)
    assert [len(s) for s in samples] == [3, 3]  # the server returns one choice per request: asked again
    assert all(text.strip() for s in samples for text in s)
    greedy = replace(PASSAGE_PARAMS, max_new_tokens=16)
    first = gen.generate(prompts, n=1, params=greedy)
    assert first == gen.generate(prompts, n=1, params=greedy)  # temperature 0: the same answer twice


def test_self_questioning_run_through_a_real_server(server, tmp_path):
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["questions", "-m", "open", "-n", "2", "--backend", "openai",
                                      "--base-url", server["base_url"], "--model", server["model"], "-w", str(ws)])
    assert result.exit_code == 0, result.output
    store = Store(ws)
    ids = [r["id"] for r in store.question_rows(1)]
    answers = store.answers(ids)
    assert len(ids) == 2 and all(len(a.samples) == 10 and a.passage.strip() for a in answers.values())
    assert store.unscored(1, "offline") == [] and store.run(1)["status"] == "done"
