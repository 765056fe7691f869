"""Oracle-selected topics: 3 distinct WordNet lemmas among the 10 nearest to a random L1-normalised point."""

from __future__ import annotations

import numpy as np
import pytest

from selflearn.embed import HashingEmbedder
from selflearn.errors import UserError
from selflearn.generate.fake import FakeGenerator
from selflearn.questions.oracle import OracleSource, TopicSpace, cached_embeddings, embed_all, l1_normalise
from selflearn.questions.prompts import OPEN_QUESTION_PROMPT

FAKE_WORDNET = [
    f"{lemma} ### {definition}"
    for lemma, definition in [
        ("dog", "a domesticated carnivorous mammal"),
        ("domestic_dog", "a domesticated carnivorous mammal"),
        ("cat", "a small domesticated feline mammal"),
        ("sea_lion", "a large eared seal of the Pacific"),
        ("oak", "a tree of the genus Quercus"),
        ("oak_tree", "a tree of the genus Quercus"),
        ("pine", "a coniferous tree with needles"),
        ("granite", "a coarse-grained igneous rock"),
        ("basalt", "a dark fine-grained volcanic rock"),
        ("violin", "a bowed stringed instrument"),
        ("cello", "a large bowed stringed instrument"),
        ("flute", "a high-pitched woodwind instrument"),
        ("neutron", "an elementary particle with no charge"),
        ("proton", "a stable particle with positive charge"),
        ("sonnet", "a verse form of fourteen lines"),
    ]
]


class CountingEmbedder(HashingEmbedder):
    """HashingEmbedder that counts the texts it embeds (to prove the cache is used)."""

    def __init__(self, dim: int = 32):
        super().__init__(dim)
        self.embedded = 0

    def embed(self, texts):
        self.embedded += len(texts)
        return super().embed(texts)


def brute_force_nearest(space_rows: np.ndarray, point: np.ndarray, n: int) -> set[int]:
    dist = ((l1_normalise(space_rows) - point) ** 2).sum(axis=1)
    return set(np.argsort(dist)[:n].tolist())


def test_topics_are_three_distinct_lemmas_near_the_random_point():
    emb = HashingEmbedder(32).embed(FAKE_WORDNET)
    space = TopicSpace(FAKE_WORDNET, emb)
    topics = space.sample(20, np.random.default_rng(3))
    # The same seed gives the same points: all k points are drawn first (documented order).
    points = l1_normalise(np.random.default_rng(3).standard_normal((20, 32)))
    lemma_index = {s.split(" ### ")[0].replace("_", " "): i for i, s in enumerate(FAKE_WORDNET)}
    for topic, point in zip(topics, points):
        parts = topic.split(", ")
        assert len(parts) == 3 and len(set(parts)) == 3
        assert {lemma_index[p] for p in parts} <= brute_force_nearest(emb, point, 10)
    assert "_" not in "".join(topics)
    assert "domestic dog" in {p for t in TopicSpace(FAKE_WORDNET, emb).sample(200, np.random.default_rng(0)) for p in t.split(", ")}


def test_sampling_is_reproducible_and_varies():
    space = TopicSpace(FAKE_WORDNET, HashingEmbedder(32).embed(FAKE_WORDNET))
    a = space.sample(10, np.random.default_rng(1))
    assert a == space.sample(10, np.random.default_rng(1))
    assert len(set(a)) > 1


def test_oracle_source_one_call_with_open_prompt():
    gen = FakeGenerator(fn=lambda p, i: "What is it?")
    space = TopicSpace(FAKE_WORDNET, HashingEmbedder(32).embed(FAKE_WORDNET))
    questions = OracleSource(gen, space).propose(6, np.random.default_rng(0))
    assert len(gen.calls) == 1
    assert gen.calls[0].prompts == [OPEN_QUESTION_PROMPT.format(topics=q.topics) for q in questions]
    assert {q.method for q in questions} == {"oracle"} and len(questions) == 6
    assert OracleSource(gen, space).propose(0, np.random.default_rng(0)) == []


def test_embeddings_cached_once(tmp_path):
    emb = CountingEmbedder()
    first = cached_embeddings(FAKE_WORDNET, emb, root=tmp_path)
    again = cached_embeddings(FAKE_WORDNET, emb, root=tmp_path)
    assert emb.embedded == len(FAKE_WORDNET)
    np.testing.assert_array_equal(first, again)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".npy"]  # no temp files left behind
    # A different string list is a different cache entry.
    cached_embeddings(FAKE_WORDNET[:-1], emb, root=tmp_path)
    assert emb.embedded == 2 * len(FAKE_WORDNET) - 1


def test_embed_all_restores_input_order():
    emb = HashingEmbedder(16)
    np.testing.assert_array_equal(embed_all(FAKE_WORDNET, emb, chunk=4), emb.embed(FAKE_WORDNET))


def test_too_few_strings_rejected():
    with pytest.raises(ValueError):
        TopicSpace(FAKE_WORDNET[:5], HashingEmbedder(8).embed(FAKE_WORDNET[:5]))


@pytest.mark.integration
def test_real_wordnet_topic_space(tmp_path):
    from selflearn.resources.wordnet import wordnet_reader

    try:
        reader = wordnet_reader()
    except UserError:
        pytest.skip("WordNet data is not installed (scripts/setup.sh)")
    space = TopicSpace.from_wordnet(HashingEmbedder(64), reader=reader, cache_root=tmp_path)
    assert len(space.strings) == 146_345  # (noun synset, lemma) pairs, duplicates dropped
    nouns = {s.split(" ### ")[0].replace("_", " ") for s in space.strings}
    for topic in space.sample(5, np.random.default_rng(0)):
        parts = topic.split(", ")
        assert len(set(parts)) == 3 and set(parts) <= nouns


def test_exact_neighbours_match_a_kd_tree():
    from scipy.spatial import cKDTree

    from selflearn.questions.oracle import TopicSpace, l1_normalise

    rng = np.random.default_rng(3)
    emb = rng.standard_normal((2000, 48)).astype(np.float32)
    space = TopicSpace([f"w{i} ### d" for i in range(2000)], emb)
    queries = l1_normalise(rng.standard_normal((25, 48)))
    _, expected = cKDTree(l1_normalise(emb.astype(np.float64))).query(queries, k=10)
    assert (space.nearest(queries, 10) == expected).mean() > 0.99  # float32 ties aside, the same neighbours
