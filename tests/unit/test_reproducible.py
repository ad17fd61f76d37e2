"""Same command and seed, same numbers: a short SASRec fit twice, in this process and in two
fresh processes with different hash seeds (so no result may depend on set or dict order)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import leave_one_out
from digirec.models.registry import create_model

SETTINGS = {
    "epochs": 3,
    "hidden": 16,
    "max_len": 10,
    "batch_size": 32,
    "n_threads": 2,
    "show_progress": False,
    "min_steps_between_evals": 0,
    "device": "cpu",
}


def sequences(seed: int = 0, n_users: int = 60, n_items: int = 40) -> Dataset:
    """Users walk along a ring of items (next item = current + 1 or + 2), planted order."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        item = int(rng.integers(n_items))
        for t in range(8):
            rows.append((f"u{u}", f"i{item}", float(t)))
            item = (item + int(rng.integers(1, 3))) % n_items
    return Dataset.from_interactions(
        pd.DataFrame(rows, columns=[C.USER_ID, C.ITEM_ID, C.TIMESTAMP])
    )


def fitted_scores(seed: int = 7) -> np.ndarray:
    ds = sequences()
    masks = leave_one_out(ds)
    model = create_model("sasrec", {**SETTINGS, "random_state": seed})
    model.fit(ds.subset(masks.train), ds.subset(masks.valid))
    return model._score_users(np.arange(ds.n_users))


def test_sasrec_twice_in_one_process_gives_identical_scores() -> None:
    first, second = fitted_scores(), fitted_scores()
    assert np.array_equal(first, second)
    assert not np.array_equal(first, fitted_scores(seed=8))  # the seed matters


@pytest.mark.slow  # two fresh interpreters importing torch: tens of seconds on 2 busy cores
def test_sasrec_in_fresh_processes_with_other_hash_seeds_gives_identical_scores() -> None:
    script = textwrap.dedent(
        """
        import hashlib, sys
        sys.path.insert(0, {here!r})
        from test_reproducible import fitted_scores
        print(hashlib.sha256(fitted_scores().tobytes()).hexdigest())
        """
    ).format(here=os.path.dirname(__file__))
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "2"}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        digests.add(out.stdout.strip().splitlines()[-1])
    here = hashlib.sha256(fitted_scores().tobytes()).hexdigest()
    assert digests == {here}
