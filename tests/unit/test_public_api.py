"""The curated public API is pinned: adding or removing a name is a deliberate change."""

from __future__ import annotations

import subprocess
import sys

import digirec

EXPECTED = {
    "__version__", "Dataset", "IdMap", "EventWeights", "load_data", "leave_one_out",
    "generate_shop", "Recommender", "available_models", "create_model", "run_benchmark",
    "evaluate_model", "calc_metrics", "save_bundle", "load_bundle", "DigirecError", "SchemaError",
    "UnknownIdError", "NotFittedError", "ConfigError", "MissingExtraError",
}  # fmt: skip


def test_all_is_pinned_and_resolves() -> None:
    assert set(digirec.__all__) == EXPECTED
    for name in digirec.__all__:
        assert getattr(digirec, name) is not None


def test_import_does_not_load_torch() -> None:
    code = (
        "import sys, digirec; digirec.Dataset; digirec.create_model; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
