"""Model versions: merging a LoRA adapter into its base, and the small JSON that says where a version came from.

A version folder is an ordinary Hugging Face model folder (weights + tokenizer) plus `selflearn_version.json`
(parent, base, adapter, created_at). It appears only complete: it is written to a hidden temp folder beside its
final place and renamed in one step, so a full disk or a kill leaves no half-written version.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from selflearn.errors import UserError

log = logging.getLogger(__name__)

VERSION_META = "selflearn_version.json"


@dataclass
class VersionMeta:
    """Where a model version came from: the version it was trained from, the base merged into, the adapter."""

    parent: str | None
    base: str
    adapter: str | None
    created_at: str


def write_version_meta(folder: str | Path, *, parent: str | None, base: str, adapter: str | None,
                       created_at: str | None = None) -> VersionMeta:
    """Write selflearn_version.json into a version folder and return what was written."""
    meta = VersionMeta(parent=parent, base=base, adapter=adapter,
                       created_at=created_at or datetime.now(timezone.utc).isoformat(timespec="seconds"))
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / VERSION_META).write_text(json.dumps(asdict(meta), indent=2))
    return meta


def read_version_meta(folder: str | Path) -> VersionMeta:
    """Read a version folder's selflearn_version.json."""
    path = Path(folder) / VERSION_META
    if not path.is_file():
        raise UserError(f"no version metadata in {folder} (expected {VERSION_META})")
    try:
        data = json.loads(path.read_text())
        return VersionMeta(**{k: data.get(k) for k in ("parent", "base", "adapter", "created_at")})
    except (json.JSONDecodeError, TypeError) as exc:
        raise UserError(f"{path} is not readable version metadata: {exc}") from None


def resolve_model_name(name: str | Path) -> str:
    """A comparable model name: the absolute resolved path for local folders, the id as given for hub ids."""
    p = Path(name).expanduser()
    return str(p.resolve()) if p.exists() else str(name)


def adapter_base_name(adapter_dir: str | Path) -> str:
    """The base model an adapter was trained on, from its adapter_config.json."""
    cfg = Path(adapter_dir) / "adapter_config.json"
    if not cfg.is_file():
        raise UserError(f"{adapter_dir} is not a PEFT adapter folder (no adapter_config.json)")
    try:
        return str(json.loads(cfg.read_text())["base_model_name_or_path"])
    except (json.JSONDecodeError, KeyError) as exc:
        raise UserError(f"{cfg} has no readable base_model_name_or_path: {exc}") from None


def check_adapter_base(base_model_path: str | Path, adapter_dir: str | Path) -> None:
    """Refuse an adapter that was trained on a different base model than base_model_path."""
    trained_on, given = resolve_model_name(adapter_base_name(adapter_dir)), resolve_model_name(base_model_path)
    if trained_on != given:
        raise UserError(f"adapter {adapter_dir} was trained on {trained_on}, not on the given base {given}")


def merge_adapter(base_model_path: str | Path, adapter_dir: str | Path, out_dir: str | Path,
                  *, parent: str | None = None) -> Path:
    """Merge a LoRA adapter into its base (merge_and_unload) and save it with its tokenizer as a new version folder."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_adapter_base(base_model_path, adapter_dir)
    out = Path(out_dir)
    if out.exists():
        raise UserError(f"version folder {out} already exists; choose a new one")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        # dtype "auto": merge and save in the base's own dtype, so the new version is a drop-in for the old one.
        base = AutoModelForCausalLM.from_pretrained(str(base_model_path), dtype="auto")
        merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
        merged.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(str(base_model_path)).save_pretrained(tmp)
        write_version_meta(tmp, parent=parent or resolve_model_name(base_model_path),
                           base=resolve_model_name(base_model_path), adapter=resolve_model_name(adapter_dir))
        os.replace(tmp, out)  # atomic on one filesystem: the version appears complete or not at all
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("merged %s into %s -> %s", adapter_dir, base_model_path, out)
    return out
