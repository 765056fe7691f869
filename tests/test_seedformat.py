import io
import os
import pickle

import numpy as np
import pytest

from selflearn.errors import UserError
from selflearn.seedformat import dump_result_file, import_result_file, load_result_file
from selflearn.store import Store


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_code(tmp_path):
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({"prompts_with_hallucination": [Evil()]}))
    with pytest.raises(UserError, match="refusing to load"):
        load_result_file(path)


def test_not_a_result_file(tmp_path):
    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(UserError, match="not a seed result file"):
        load_result_file(path)
    (tmp_path / "junk.pickle").write_bytes(b"\x00garbage")
    with pytest.raises(UserError):
        load_result_file(tmp_path / "junk.pickle")


def test_numpy_payloads_load(tmp_path):
    data = {"prompts_with_hallucination": [{"prompt": "q", "sentence_scores": np.array([0.7, 0.9]),
                                            "average_score": np.float64(0.8)}]}
    path = tmp_path / "ok.pickle"
    dump_result_file(data, path)
    back = load_result_file(path)
    assert back["prompts_with_hallucination"][0]["sentence_scores"].tolist() == [0.7, 0.9]


def test_import_reference_file_keeps_every_answer(reference_dir, tmp_path):
    path = sorted(reference_dir.glob("*TinyLlama*"))[0]
    original = load_result_file(path)
    store = Store(tmp_path)
    run = import_result_file(store, path)
    rows = store.question_rows(run)
    assert len(rows) == 576
    first = original["prompts_with_hallucination"][0]
    answer = store.answers([rows[0]["id"]])[rows[0]["id"]]
    assert answer.passage == first["passage"] and answer.samples == list(first["samples"])
    scores = store.scores(run, "stored")[rows[0]["id"]]
    assert np.allclose(scores[0], first["sentence_scores"], atol=1e-6)
    assert scores[1] == pytest.approx(float(first["average_score"]))
