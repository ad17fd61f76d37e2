"""Engines beyond one process: Spark (data preparation + MLlib ALS -> a normal bundle) and the
torch distributed helpers used by the trainer under ``torchrun``.

Nothing here is imported by ``import digirec``; pyspark is imported only inside the functions of
:mod:`digirec.engines.spark` that need it.
"""

#: Training engines the CLI accepts (``digirec train/benchmark --engine``).
ENGINES = ("local", "spark")
