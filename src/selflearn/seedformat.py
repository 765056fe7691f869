"""The seed's result-file format: a pickled dictionary (SEED-README.md, "Results files").

Pickles execute code when loaded, so the paper's files are read with an unpickler that admits only
the numpy and builtin types such a file can hold; anything else is refused.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from selflearn.errors import UserError

# (module, name) pairs a seed result file may reference: numpy arrays, scalars and dtypes.
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.numeric", "_frombuffer"),
    ("builtins", "float"),
    ("builtins", "int"),
    ("builtins", "complex"),
    ("collections", "OrderedDict"),
}
_NUMPY_DTYPE_CLASSES = ("numpy.dtypes", "numpy")


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED or (module in _NUMPY_DTYPE_CLASSES and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy types are allowed")


def load_result_file(path: str | Path) -> dict[str, Any]:
    """Load a seed/paper result pickle safely (numpy types only)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"no such result file: {p}")
    try:
        with p.open("rb") as fh:
            data = _NumpyOnlyUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise UserError(f"{p} is not a readable result file: {exc}") from None
    if not isinstance(data, dict) or "prompts_with_hallucination" not in data:
        raise UserError(f"{p} is not a seed result file (no 'prompts_with_hallucination' key)")
    return data


def dump_result_file(data: dict[str, Any], path: str | Path) -> None:
    """Write a result dictionary as a pickle the seed's code can load."""
    with Path(path).open("wb") as fh:
        pickle.dump(data, fh, protocol=4)
