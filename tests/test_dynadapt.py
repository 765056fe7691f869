"""Dyn-Adapt: the router's fit/save/load, and a RoutedGenerator that switches a LoRA adapter per prompt."""

from __future__ import annotations

import numpy as np
import pytest

from selflearn.errors import UserError
from selflearn.types import GenParams

GREEDY = GenParams(max_new_tokens=6, do_sample=False)


def test_router_fits_separable_features_and_roundtrips_json(tmp_path):
    from selflearn.dynadapt import Router, fit_router

    rng = np.random.default_rng(0)
    h = rng.normal(2.0, 1.0, (20, 8)).astype(np.float32)
    nh = rng.normal(-2.0, 1.0, (50, 8)).astype(np.float32)
    router = fit_router(h, nh)
    assert router.route(h).mean() > 0.9 and router.route(nh).mean() < 0.1
    path = router.save(tmp_path / "router.json")
    assert path.read_text().startswith("{")  # JSON, not a pickle
    again = Router.load(path)
    np.testing.assert_allclose(again.probability(h), router.probability(h))
    assert again.meta["n_h"] == 20


def test_router_refuses_one_class_and_bad_files(tmp_path):
    from selflearn.dynadapt import Router, fit_router

    with pytest.raises(UserError, match="both Q_H and Q_NH"):
        fit_router(np.ones((3, 4)), np.zeros((0, 4)))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not a router file"):
        Router.load(bad)
    with pytest.raises(UserError, match="no such router"):
        Router.load(tmp_path / "missing.json")


class TinyHFGenerator:
    """What RoutedGenerator needs of selflearn.generate.hf.HFGenerator: .model, .tokenizer, batched generate()."""

    def __init__(self, model, tokenizer):
        self.model, self.tokenizer = model, tokenizer
        self.calls: list[list[str]] = []

    def render(self, prompts):
        return [f"User: {p}\nAssistant:\n" for p in prompts]

    def generate(self, prompts, *, n=1, params):
        import torch

        self.calls.append(list(prompts))
        self.tokenizer.padding_side = "left"
        enc = self.tokenizer(self.render(prompts), return_tensors="pt", padding=True)
        with torch.no_grad():
            out = self.model.generate(**enc, do_sample=False, max_new_tokens=params.max_new_tokens,
                                      pad_token_id=self.tokenizer.pad_token_id)
        texts = self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return [[t] * n for t in texts]


@pytest.fixture(scope="module")
def peft_generator():
    import torch
    from peft import LoraConfig, get_peft_model
    from test_train import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer()
    tok.pad_token = tok.eos_token
    base = tiny_model(tok)
    # init_lora_weights=False: random A and B, so the adapter visibly changes the outputs (as a trained one would).
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.mul_(20.0)
    return TinyHFGenerator(model.eval(), tok)


H = ["Who wrote Hamlet?", "Why is the sky blue?", "What is the capital of France?", "Who wrote the dog?"]
NH = ["The quick brown fox jumps over the lazy dog 0123456789.", "I do not know the answer to that question.",
      "Photosynthesis turns light, water and carbon dioxide into sugar.", "0123456789 0123456789"]


@pytest.mark.integration
def test_routed_generator_switches_adapter_per_prompt(peft_generator):
    from selflearn.dynadapt import RoutedGenerator, prompt_features, train_router
    from selflearn.protocols import Generator

    gen = peft_generator
    # Trained on the rendered model inputs, as learnstages does; RoutedGenerator renders before routing too.
    router = train_router(gen.model, gen.tokenizer, gen.render(H), gen.render(NH), batch_size=3)
    feats = prompt_features(gen.model, gen.tokenizer, gen.render(H + NH), batch_size=3)
    single = prompt_features(gen.model, gen.tokenizer, gen.render(H[:2]), batch_size=1)
    np.testing.assert_allclose(feats[:2], single, atol=1e-5)  # features do not depend on the batch's padding
    assert list(router.route(feats)) == [True] * len(H) + [False] * len(NH)

    mixed = [NH[0], H[0], NH[1], H[1], H[2], NH[2]]
    expected_on = {p: o[0] for p, o in zip(mixed, gen.generate(mixed, params=GREEDY))}
    with gen.model.disable_adapter():
        expected_off = {p: o[0] for p, o in zip(mixed, gen.generate(mixed, params=GREEDY))}
    assert any(expected_on[p] != expected_off[p] for p in mixed), "the adapter must change some outputs"

    routed = RoutedGenerator(gen, router)
    assert isinstance(routed, Generator)
    gen.calls.clear()
    out = routed.generate(mixed, n=2, params=GREEDY)
    assert len(gen.calls) == 2  # one batched call per group
    assert list(routed.last_routes) == [p in H for p in mixed]
    for prompt, outs in zip(mixed, out):
        assert len(outs) == 2
        assert outs[0] == (expected_on[prompt] if prompt in H else expected_off[prompt])
    assert routed.generate([], params=GREEDY) == []


def test_routed_generator_needs_a_peft_model():
    from selflearn.dynadapt import Router, RoutedGenerator

    class Plain:
        model = object()
        tokenizer = None

    router = Router(np.zeros(2), 0.0, np.zeros(2), np.ones(2))
    with pytest.raises(UserError, match="PeftModel"):
        RoutedGenerator(Plain(), router)
