"""Model registry: name -> model class, used by the CLI, the benchmark and ``Recommender.load``.

Classes are imported lazily so that importing digirec never imports torch or implicit.
"""

from __future__ import annotations

import importlib

from digirec.exceptions import ConfigError
from digirec.models.base import Recommender

#: Registered model names and where their classes live.
_MODELS: dict[str, str] = {
    "pop": "digirec.models.popular:PopularModel",
    "catpop": "digirec.models.popular:CategoryPopularModel",
    "itemknn": "digirec.models.itemknn:ItemKNNModel",
    "ease": "digirec.models.ease:EASEModel",
    "als": "digirec.models.als:ALSModel",
    # Spark MLlib's implicit ALS (fitting needs the spark extra; serving does not).
    "spark-als": "digirec.models.spark_als:SparkALSModel",
    "bpr": "digirec.models.bpr:BPRModel",
    "hybrid": "digirec.models.hybrid:HybridModel",
    "mf": "digirec.models.mf:MFModel",
    "sasrec": "digirec.models.sasrec:SASRecModel",
    "autorec": "digirec.models.autorec:AutoRecModel",
    "twotower": "digirec.models.twotower:TwoTowerModel",
    "random": "digirec.models.chance:RandomModel",
    "contentknn": "digirec.models.contentknn:ContentKNNModel",
    "slist": "digirec.models.slist:SLISTModel",
    "sasrec_text": "digirec.models.sasrec_text:TextSASRecModel",
}


def available_models() -> list[str]:
    """Names of all registered models."""
    return list(_MODELS)


def get_model_class(name: str) -> type[Recommender]:
    """The model class registered under ``name``."""
    try:
        target = _MODELS[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; available: {', '.join(available_models())}"
        ) from None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Recommender)):
        raise TypeError(f"{target} is not a Recommender")
    return cls


def create_model(name: str, params: dict[str, object] | None = None) -> Recommender:
    """Instantiate a registered model with ``params`` (validated by its config class)."""
    return get_model_class(name)(params or {})
