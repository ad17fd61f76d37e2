"""EASE: embarrassingly shallow autoencoder (Steck, WWW 2019).

A linear item-item model ``X ≈ X B`` with ``diag(B) = 0``, fitted in closed form:

    G = XᵀX + λI,   P = G⁻¹,   B_ij = -P_ij / P_jj  (i ≠ j),   B_jj = 0.

The inverse is dense ``n_items x n_items``: 10k items need about 0.8 GB (float64) while fitting
and 0.4 GB (float32) afterwards. It is exact (no iterations, no seed dependence) and a strong
baseline on sparse shop data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numpy.typing import NDArray
from pydantic import ConfigDict, Field

from digirec.data.dataset import Dataset
from digirec.exceptions import ConfigError
from digirec.models.base import FloatMatrix, IdxArray, ModelConfig, Recommender
from digirec.models.itemknn import csr_from_state, csr_to_state


class EASEConfig(ModelConfig):
    """Configuration of :class:`EASEModel`.

    The L2 strength is called ``lambda`` in configs, files and on the command line
    (``{"ease": {"lambda": 300}}``); in Python it is the attribute ``lambda_`` because
    ``lambda`` is a keyword. Both names are accepted on input; :meth:`EASEModel.get_config`
    writes ``lambda``.

    Attributes
    ----------
    lambda_:
        L2 regularisation ``λ`` added to the diagonal of the Gram matrix (> 0). Larger values
        shrink the weights and favour popular items less sharply; typical values are 10..1000.
    binary:
        Use the binary user-item matrix (``True``) or the interaction weights (``False``).
    random_state:
        Seeds the tie-break between equally scored items (the fit itself is deterministic).
    """

    model_config = ConfigDict(
        extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    lambda_: float = Field(100.0, alias="lambda", gt=0, description="L2 regularisation λ.")
    binary: bool = Field(True, description="Binary (True) or weighted (False) user-item matrix.")


class EASEModel(Recommender):
    """Closed-form item-item linear model (EASE).

    Scores are ``x_u @ B`` for known users (their training row) and for histories alike;
    ``similar_items(j)`` is row ``j`` of ``B`` (how much item ``j`` in a history raises each
    other item).

    Attributes
    ----------
    weights_:
        ``(n_items, n_items)`` float32 matrix ``B`` with a zero diagonal.
    user_items_:
        The weighted training matrix when ``binary=False`` (needed to score known users and saved
        with the model); ``None`` when ``binary=True`` (the base's ``seen_`` is it).
    """

    name: ClassVar[str] = "ease"
    user_arrays: ClassVar[tuple[str, ...]] = ("user_items_",)
    config_class: ClassVar[type[ModelConfig]] = EASEConfig
    supports_history: ClassVar[bool] = True
    config: EASEConfig

    weights_: NDArray[np.float32]
    user_items_: sp.csr_matrix | None

    def get_config(self) -> dict[str, Any]:
        """The resolved configuration, with the regulariser under its public name ``lambda``."""
        return self.config.model_dump(mode="json", by_alias=True)

    def _fit(self, dataset: Dataset, valid: Dataset | None) -> None:
        del valid
        matrix = dataset.user_item_matrix(binary=self.config.binary)
        self.user_items_ = None if self.config.binary else matrix
        self.weights_ = ease_weights(matrix, self.config.lambda_)

    def _user_matrix(self) -> sp.csr_matrix:
        return self.seen_ if self.user_items_ is None else self.user_items_

    def _score_histories(self, histories: sp.csr_matrix) -> FloatMatrix:
        return np.asarray(histories @ self.weights_, dtype=np.float32)

    def _score_users(self, user_idx: IdxArray) -> FloatMatrix:
        return self._score_histories(self._user_matrix()[user_idx])

    def _similar_scores(self, item_idx: IdxArray) -> FloatMatrix:
        return np.array(self.weights_[item_idx], dtype=np.float32)

    def _get_state(self) -> dict[str, NDArray[Any]]:
        state: dict[str, NDArray[Any]] = {"weights": self.weights_}
        if self.user_items_ is not None:
            state.update(csr_to_state("user_items", self.user_items_))
        return state

    def _set_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        self.weights_ = np.ascontiguousarray(state["weights"], dtype=np.float32)
        self.user_items_ = None
        if not self.config.binary:
            # is_fitted is set after _set_state, so read the sizes from the maps directly.
            shape = (len(self.user_map_), len(self.item_map_))
            self.user_items_ = csr_from_state("user_items", state, shape)


def ease_weights(matrix: sp.spmatrix, lambda_: float) -> NDArray[np.float32]:
    """The EASE weight matrix ``B`` for a ``(n_users, n_items)`` matrix ``X``.

    Computed in float64 with a Cholesky factorisation (``G`` is symmetric positive definite for
    ``λ > 0``) and an in-place inverse, so the peak memory is about two ``n_items²`` float64
    arrays.

    Returns
    -------
    ``(n_items, n_items)`` float32 array with a zero diagonal.
    """
    csc = sp.csc_matrix(matrix, dtype=np.float64)
    gram = np.asarray((csc.T @ csc).todense(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += lambda_
    precision = _spd_inverse(gram)
    diag = np.diag(precision).copy()
    # B = -P / diag(P) column-wise, done in place to avoid another n² array.
    precision /= -diag[None, :]
    np.fill_diagonal(precision, 0.0)
    # LAPACK hands back a Fortran-ordered array; scoring (sparse @ dense) needs C order, or scipy
    # copies the whole matrix on every call.
    return np.ascontiguousarray(precision, dtype=np.float32)


def _spd_inverse(gram: NDArray[np.float64], block_rows: int = 1024) -> NDArray[np.float64]:
    """Inverse of a symmetric positive definite matrix (overwrites ``gram``).

    ``block_rows`` bounds the temporary memory of mirroring the triangle LAPACK computes.
    """
    factor, lower = scipy.linalg.cho_factor(gram, lower=False, overwrite_a=True, check_finite=False)
    inverse, info = scipy.linalg.lapack.dpotri(factor, lower=lower, overwrite_c=True)
    if info != 0:
        raise ConfigError(
            f"EASE: the regularised Gram matrix is not invertible (LAPACK info={info})"
        )
    # dpotri fills only the upper triangle; mirror it (row block by row block to bound memory).
    n = inverse.shape[0]
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        block = inverse[start:stop, :stop]  # rows start..stop, columns 0..stop
        lower_mask = np.tri(stop - start, stop, start - 1, dtype=bool)  # strictly below diagonal
        block[lower_mask] = inverse[:stop, start:stop].T[lower_mask]
    return np.asarray(inverse, dtype=np.float64)
