"""digirec: a recommender system for digital and consumer-electronics shops.

The public API below is imported lazily (PEP 562), so ``import digirec`` stays cheap and never
imports torch; the list is pinned by ``tests/unit/test_public_api.py``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Dataset": "digirec.data.dataset",
    "IdMap": "digirec.data.idmap",
    "EventWeights": "digirec.data.events",
    "load_data": "digirec.data.load",
    "leave_one_out": "digirec.data.split",
    "generate_shop": "digirec.data.synth",
    "Recommender": "digirec.models.base",
    "available_models": "digirec.models.registry",
    "create_model": "digirec.models.registry",
    "run_benchmark": "digirec.evaluation.benchmark",
    "evaluate_model": "digirec.evaluation.evaluate",
    "calc_metrics": "digirec.evaluation.evaluate",
    "save_bundle": "digirec.artifacts",
    "load_bundle": "digirec.artifacts",
    "DigirecError": "digirec.exceptions",
    "SchemaError": "digirec.exceptions",
    "UnknownIdError": "digirec.exceptions",
    "NotFittedError": "digirec.exceptions",
    "ConfigError": "digirec.exceptions",
    "MissingExtraError": "digirec.exceptions",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'digirec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
