"""On-disk cache of embeddings keyed by content hash.

Encoding a catalogue with a neural text model takes seconds to minutes; the same titles come
back at every training run, benchmark and service start. :class:`EmbeddingCache` stores each
vector under ``sha256(namespace + text)``, where the namespace names the encoder and its version
(and, for fitted encoders, a fingerprint of the fitted state), so a changed model never serves
stale vectors.

Layout: ``<cache dir>/<namespace>/<shard>.npz``, each shard holding ``keys`` (hex digests) and
``vectors`` (float32). New vectors go to a new shard written atomically (temporary file, then
``os.replace``), so concurrent writers never corrupt one another; many small shards are merged
once there are more than ``max_shards``.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["CACHE_DIR_ENV", "EmbeddingCache", "content_key", "default_cache_dir"]

#: Environment variable naming digirec's cache root (embeddings go to ``<root>/embeddings``).
CACHE_DIR_ENV = "DIGIREC_CACHE_DIR"


def default_cache_dir() -> Path:
    """The embedding cache folder: ``$DIGIREC_CACHE_DIR/embeddings``.

    Falls back to ``~/.cache/digirec/embeddings``. The variable is read at each call (never at
    import), so tests and services can redirect the cache at run time.
    """
    root = os.environ.get(CACHE_DIR_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "digirec"
    return base / "embeddings"


def content_key(namespace: str, text: str) -> str:
    """``sha256`` hex digest of the namespace (encoder name + version) and the text."""
    return hashlib.sha256(f"{namespace}\x00{text}".encode()).hexdigest()


# Shards are immutable once written (new vectors always go to a new file), so a shard read once
# can be kept in memory: a service encoding one query per request then reads only new shards.
_SHARD_MEMO: dict[Path, tuple[NDArray[np.str_], NDArray[np.float32]]] = {}
_SHARD_MEMO_MAX = 512


def _read_shard(shard: Path) -> tuple[NDArray[np.str_], NDArray[np.float32]]:
    hit = _SHARD_MEMO.get(shard)
    if hit is not None:
        return hit
    with np.load(shard, allow_pickle=False) as z:
        loaded = (z["keys"].astype(str), z["vectors"].astype(np.float32))
    if len(_SHARD_MEMO) >= _SHARD_MEMO_MAX:
        _SHARD_MEMO.clear()
    _SHARD_MEMO[shard] = loaded
    return loaded


def _safe_dirname(namespace: str) -> str:
    # Readable prefix plus a short hash: two namespaces that sanitise alike stay apart.
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", namespace)[:60]
    return f"{slug}-{hashlib.sha256(namespace.encode()).hexdigest()[:10]}"


class EmbeddingCache:
    """Vectors of one encoder (one namespace) stored on disk by content hash.

    Parameters
    ----------
    namespace:
        Encoder name and version (see :attr:`TextEncoder.cache_namespace`).
    directory:
        Cache root; ``None`` uses :func:`default_cache_dir` (resolved when the cache is made).
    max_shards:
        Merge the shards into one once there are more than this many.
    """

    def __init__(
        self, namespace: str, directory: str | Path | None = None, *, max_shards: int = 32
    ) -> None:
        self.namespace = namespace
        root = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.path = root / _safe_dirname(namespace)
        self.max_shards = max_shards

    def key(self, text: str) -> str:
        """The cache key of one text."""
        return content_key(self.namespace, text)

    def _shards(self) -> list[Path]:
        if not self.path.is_dir():
            return []
        return sorted(self.path.glob("*.npz"))

    def _read_all(self) -> tuple[NDArray[np.str_], NDArray[np.float32]] | None:
        keys: list[NDArray[np.str_]] = []
        vectors: list[NDArray[np.float32]] = []
        for shard in self._shards():
            try:
                k, v = _read_shard(shard)
            except (OSError, ValueError, KeyError):
                continue  # a shard being replaced or damaged: treat its vectors as missing
            if vectors and v.shape[1] != vectors[0].shape[1]:
                continue
            keys.append(k)
            vectors.append(v)
        if not keys:
            return None
        return np.concatenate(keys), np.concatenate(vectors)

    def get(self, keys: Sequence[str]) -> tuple[NDArray[np.float32] | None, NDArray[np.bool_]]:
        """Look keys up.

        Returns
        -------
        vectors:
            ``(len(keys), dim)`` with the cached rows filled (others zero), or ``None`` when the
            cache is empty.
        found:
            Which keys were in the cache.
        """
        found = np.zeros(len(keys), dtype=bool)
        stored = self._read_all()
        if stored is None or not len(keys):
            return None, found
        stored_keys, stored_vectors = stored
        position = {k: i for i, k in enumerate(stored_keys.tolist())}
        rows = np.fromiter((position.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        found = rows >= 0
        out = np.zeros((len(keys), stored_vectors.shape[1]), dtype=np.float32)
        out[found] = stored_vectors[rows[found]]
        return out, found

    def put(self, keys: Sequence[str], vectors: NDArray[np.floating]) -> None:
        """Store vectors (one row per key) in a new shard."""
        if not len(keys):
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self._write(self.path / f"{uuid.uuid4().hex}.npz", np.asarray(keys), vectors)
        shards = self._shards()
        if len(shards) > self.max_shards:
            self._compact(shards)

    def _write(self, target: Path, keys: NDArray[np.str_], vectors: NDArray[np.floating]) -> None:
        tmp = target.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, keys=keys.astype(str), vectors=np.asarray(vectors, dtype=np.float32))
        os.replace(tmp, target)

    def _compact(self, shards: list[Path]) -> None:
        stored = self._read_all()
        if stored is None:
            return
        keys, vectors = stored
        _, first = np.unique(keys, return_index=True)
        self._write(self.path / f"{uuid.uuid4().hex}.npz", keys[first], vectors[first])
        for shard in shards:
            shard.unlink(missing_ok=True)
            _SHARD_MEMO.pop(shard, None)

    def clear(self) -> None:
        """Delete every vector of this namespace."""
        for shard in self._shards():
            shard.unlink(missing_ok=True)
            _SHARD_MEMO.pop(shard, None)

    def __len__(self) -> int:
        stored = self._read_all()
        return 0 if stored is None else len(np.unique(stored[0]))
