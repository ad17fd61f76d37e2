"""The Spark engine: data preparation on Spark DataFrames and ALS from Spark MLlib.

``digirec train --engine spark --model als`` and ``digirec benchmark --engine spark --models
als`` run here. The raw table comes from digirec's own loaders (so every format and every
validation message is the same as on one machine); from there Spark does the row work:

1. event weights (:class:`~digirec.data.events.EventWeights`: the type -> weight table is
   evaluated once per distinct event value on the driver, the explicit ``weight`` column and the
   half-life decay are Spark expressions), unknown event types raise or are skipped as configured;
2. the repeated-pair rule (``first``/``last``/``max``/``sum``/``keep``, the rules of
   :func:`digirec.data.dataset.merge_duplicates`) with window functions over each (user, item)
   pair in chronological order;
3. the id maps (first appearance in file order, as :class:`~digirec.data.idmap.IdMap` builds
   them) and each user's chronological order (timestamp, unknown last; ties by source row);
4. when benchmarking, the leave-one-out split with window functions (position and count per
   user), which tests pin to :func:`digirec.data.split.leave_one_out`;
5. ALS from :mod:`pyspark.ml.recommendation` with ``implicitPrefs=True``
   (:class:`~digirec.models.spark_als.SparkALSModel`).

The prepared rows are collected once to the driver as a normal :class:`~digirec.data.dataset.
Dataset` -- the bundle needs the id maps and each user's seen items to serve, and the benchmark
computes its metrics with digirec's own code on it -- and tests check that this Dataset equals
``Dataset.from_raw`` on the same data. The bundle is a normal digirec bundle: ``digirec serve``
and ``digirec recommend`` load it without pyspark.

Sessions: :func:`spark_session` starts (or reuses) one; local masters bind to
``SPARK_LOCAL_IP=127.0.0.1`` and the driver gets 2 GB unless told otherwise. See
``docs/scale.md`` for standalone and Kubernetes masters.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from digirec import columns as C
from digirec.data.dataset import Dataset, DatasetStats, _align
from digirec.data.events import DuplicatePolicy, EventWeights, check_duplicates
from digirec.data.idmap import IdMap
from digirec.data.split import SplitMasks
from digirec.data.tables import RawData
from digirec.exceptions import ConfigError, MissingExtraError

if TYPE_CHECKING:
    from pyspark.sql import Column, SparkSession
    from pyspark.sql import DataFrame as SparkFrame

    from digirec.models.spark_als import SparkALSConfig

#: Default master: all local cores. CI and the tests use ``local[2]``.
DEFAULT_MASTER = "local[*]"
#: Spark binds local drivers to this address (no network lookup of the host name).
LOCAL_IP = "127.0.0.1"
DRIVER_MEMORY = "2g"

#: Models the Spark engine trains: the name the CLI accepts -> the registered model that runs.
SPARK_MODELS: dict[str, str] = {"als": "spark-als"}

#: Column holding the row's position in the raw table (the file order).
POS = "_pos"
#: Split label column of :func:`leave_one_out_frame`: 0 train, 1 validation, 2 test.
SPLIT = "_split"
RATING_COL = "rating"

Progress = Callable[[str], None]


# ---------------------------------------------------------------------- sessions
def spark_session(
    master: str | None = None,
    *,
    app_name: str = "digirec",
    driver_memory: str | None = None,
    shuffle_partitions: int = 8,
) -> SparkSession:
    """Start (or reuse) a Spark session for digirec.

    Parameters
    ----------
    master:
        Spark master URL: ``local[N]``, ``spark://host:7077`` (standalone),
        ``k8s://https://host:443`` (Kubernetes); default :data:`DEFAULT_MASTER`.
    driver_memory:
        ``spark.driver.memory`` (applies when this call starts the JVM); default
        ``$SPARK_DRIVER_MEMORY`` or :data:`DRIVER_MEMORY`. Executor settings
        (``spark.executor.memory``, ``spark.executor.instances``, Kubernetes options) come from
        ``$SPARK_CONF_DIR/spark-defaults.conf`` as for any Spark application.
    shuffle_partitions:
        ``spark.sql.shuffle.partitions``: Spark's default of 200 is tuned for clusters and
        makes small jobs slow; adaptive execution still coalesces them.

    Raises
    ------
    MissingExtraError
        pyspark is not installed.
    ConfigError
        No Java runtime is found (Spark needs Java 17).
    """
    _quiet_pandas_warnings()
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise MissingExtraError("pyspark", "spark") from None
    url = master or DEFAULT_MASTER
    if url.startswith("local"):
        # A local driver must not depend on the host name resolving to a reachable address.
        os.environ.setdefault("SPARK_LOCAL_IP", LOCAL_IP)
    # Python workers (if Spark ever needs them) run this interpreter, not whatever is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise ConfigError(
            "the Spark engine needs a Java runtime (Java 17): install it or set JAVA_HOME"
        )
    builder = (
        SparkSession.builder.master(url)
        .appName(app_name)
        .config(
            "spark.driver.memory",
            driver_memory or os.environ.get("SPARK_DRIVER_MEMORY", DRIVER_MEMORY),
        )
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # ALS's iterations grow a deep lineage; serialising it overflows the default thread
        # stack (a StackOverflowError at 15 iterations on MovieLens-100K) unless it is cut by
        # checkpoints (below) -- and a larger stack keeps the margin.
        .config("spark.driver.extraJavaOptions", "-Xss64m")
        .config("spark.executor.extraJavaOptions", "-Xss64m")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    checkpoints = os.environ.get("DIGIREC_SPARK_CHECKPOINT_DIR")
    if checkpoints is None and url.startswith("local"):
        import tempfile

        checkpoints = tempfile.mkdtemp(prefix="digirec-spark-checkpoints-")
    if checkpoints is not None and spark.sparkContext.getCheckpointDir() is None:
        # MLlib's ALS checkpoints every `checkpointInterval` iterations when a directory is
        # set; on a cluster it must be shared storage (HDFS, S3), hence the variable.
        spark.sparkContext.setCheckpointDir(checkpoints)
    return spark


def _quiet_pandas_warnings() -> None:
    """pyspark warns on every pandas conversion that it does not "fully support" pandas 3; the
    conversions digirec makes (numbers and text, through Arrow) are checked by its tests."""
    import warnings

    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    warnings.filterwarnings("ignore", message="The copy keyword is deprecated")


def active_session() -> SparkSession:
    """The active Spark session, or a local one started with the defaults."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise MissingExtraError("pyspark", "spark") from None
    active = SparkSession.getActiveSession()
    return active if active is not None else spark_session()


# ---------------------------------------------------------------------- raw rows
def to_spark(spark: SparkSession, interactions: pd.DataFrame) -> SparkFrame:
    """The canonical raw interactions as a Spark DataFrame (plus the file position :data:`POS`).

    Missing timestamps, weights and ratings become SQL nulls (never NaN, which Spark would sort
    as the largest value); ids and events are text, as ``Dataset`` reads them.
    """
    from pyspark.sql import types as T

    frame = interactions.reset_index(drop=True)
    n = len(frame)
    for col in (C.USER_ID, C.ITEM_ID):
        if col not in frame.columns:
            from digirec.exceptions import SchemaError

            raise SchemaError("required column is missing", field=col)
    data: dict[str, Any] = {
        C.USER_ID: frame[C.USER_ID].astype(str).to_numpy(dtype=object),
        C.ITEM_ID: frame[C.ITEM_ID].astype(str).to_numpy(dtype=object),
        POS: np.arange(n, dtype=np.int64),
    }
    fields = [
        T.StructField(C.USER_ID, T.StringType(), False),
        T.StructField(C.ITEM_ID, T.StringType(), False),
        T.StructField(POS, T.LongType(), False),
    ]
    for col in (C.TIMESTAMP, C.WEIGHT, C.RATING):
        if col in frame.columns:
            values = frame[col].to_numpy(dtype=np.float64, na_value=np.nan)
            data[col] = [None if np.isnan(v) else float(v) for v in values]
            fields.append(T.StructField(col, T.DoubleType(), True))
    if C.SOURCE_ROW in frame.columns:
        data[C.SOURCE_ROW] = frame[C.SOURCE_ROW].to_numpy(dtype=np.int64)
        fields.append(T.StructField(C.SOURCE_ROW, T.LongType(), False))
    if C.EVENT in frame.columns:
        events = frame[C.EVENT]
        data[C.EVENT] = [
            None if missing else str(v)
            for v, missing in zip(events.to_numpy(dtype=object), events.isna(), strict=True)
        ]
        fields.append(T.StructField(C.EVENT, T.StringType(), True))
    table = pd.DataFrame({f.name: data[f.name] for f in fields})
    return spark.createDataFrame(table, schema=T.StructType(fields))


def _chronological(df: SparkFrame) -> list[Column]:
    """The within-user order of ``Dataset``: timestamp (unknown last), source row, file order."""
    from pyspark.sql import functions as F

    keys = [F.col(C.TIMESTAMP).asc_nulls_last()] if C.TIMESTAMP in df.columns else []
    return [*keys, F.col(C.SOURCE_ROW).asc(), F.col(POS).asc()]


# ---------------------------------------------------------------------- weights
def with_weights(df: SparkFrame, rule: EventWeights) -> tuple[SparkFrame, dict[str, int]]:
    """Add the :data:`~digirec.columns.WEIGHT` of every row as :class:`EventWeights` defines it.

    Returns the frame (rows of unknown event types dropped under ``unknown_events="skip"``, and
    a ``source_row`` column added from the file order when there was none) and the skipped rows
    per event type.

    Raises
    ------
    ConfigError
        Event types without a weight under ``unknown_events="error"``.
    """
    from pyspark.sql import functions as F

    weight: Column = F.lit(1.0)
    skipped: dict[str, int] = {}
    if C.EVENT in df.columns:
        counts = {
            str(row[C.EVENT]): int(row["count"])
            for row in df.where(F.col(C.EVENT).isNotNull()).groupBy(C.EVENT).count().collect()
        }
        if counts:
            # The type -> weight table is the EventWeights' own, evaluated on the distinct values.
            distinct = pd.DataFrame({C.EVENT: list(counts)})
            unknown = rule.unknown_mask(distinct)
            if unknown.any() and rule.unknown_events == "error":
                bad = ", ".join(
                    f"{e!r} x {counts[e]}" for e in distinct[C.EVENT][unknown].sort_values()
                )
                raise ConfigError(
                    f"event type(s) without a weight: {bad}; known: {sorted(rule.weights)}. "
                    "Give them a weight (--event-weights '{\"name\": 3}'), or pass "
                    "--unknown-events skip or weight=W."
                )
            mapping = rule.model_copy(
                update={"half_life_days": None, "unknown_events": "skip", "unknown_weight": None}
            ).row_weights(distinct)
            if rule.unknown_events == "weight":
                mapping = np.where(unknown, float(rule.unknown_weight or 0.0), mapping)
            pairs: list[Column] = []
            for event, value in zip(distinct[C.EVENT], mapping, strict=True):
                pairs += [F.lit(event), F.lit(None if np.isnan(value) else float(value))]
            table = F.create_map(*pairs)
            weight = F.when(F.col(C.EVENT).isNull(), F.lit(1.0)).otherwise(table[F.col(C.EVENT)])
            if rule.unknown_events == "skip":
                skipped = {e: counts[e] for e in distinct[C.EVENT][unknown]}
    if C.WEIGHT in df.columns:
        weight = F.coalesce(F.col(C.WEIGHT), weight)
    if C.SOURCE_ROW not in df.columns:
        df = df.withColumn(C.SOURCE_ROW, F.col(POS))
    if rule.half_life_days is not None and C.TIMESTAMP in df.columns:
        newest = df.agg(F.max(C.TIMESTAMP)).first()
        if newest is not None and newest[0] is not None:
            age_days = (F.lit(float(newest[0])) - F.col(C.TIMESTAMP)) / 86_400.0
            decay = F.pow(F.lit(0.5), age_days / float(rule.half_life_days))
            weight = F.when(F.col(C.TIMESTAMP).isNull(), weight).otherwise(weight * decay)
    out = df.withColumn(C.WEIGHT, weight.cast("double"))
    if skipped:
        # Skipped types map to null; explicit weights never rescue them (Dataset drops them too).
        out = out.where(F.col(C.EVENT).isNull() | ~F.col(C.EVENT).isin(list(skipped)))
    return out, skipped


# ---------------------------------------------------------------------- repeated pairs
def merge_duplicates_frame(df: SparkFrame, policy: DuplicatePolicy) -> SparkFrame:
    """The repeated-pair rule of :func:`digirec.data.dataset.merge_duplicates`, on Spark.

    ``first`` keeps each (user, item) pair's chronologically first row, ``last`` its last;
    ``max``/``sum`` keep the first row's place in time with the max / sum of the pair's weights
    and the ``event``/``rating`` of its strongest row (the first of equal weights); ``keep``
    keeps every row.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    policy = check_duplicates(policy)
    if policy == "keep":
        return df
    pair = [C.USER_ID, C.ITEM_ID]
    chrono = _chronological(df)
    ordered = Window.partitionBy(*pair).orderBy(*chrono)
    if policy == "last":
        # The last row in time: rank by the reversed order (nulls, i.e. unknown times, first).
        desc = [F.col(C.TIMESTAMP).desc_nulls_first()] if C.TIMESTAMP in df.columns else []
        latest = Window.partitionBy(*pair).orderBy(
            *desc, F.col(C.SOURCE_ROW).desc(), F.col(POS).desc()
        )
        return df.withColumn("_rn", F.row_number().over(latest)).where("_rn = 1").drop("_rn")
    out = df.withColumn("_rn", F.row_number().over(ordered))
    if policy in ("max", "sum"):
        whole = Window.partitionBy(*pair)
        agg = F.max(C.WEIGHT) if policy == "max" else F.sum(C.WEIGHT)
        strongest = Window.partitionBy(*pair).orderBy(F.col(C.WEIGHT).desc(), *chrono)
        out = out.withColumn("_agg", agg.over(whole))
        for column in (C.EVENT, C.RATING):
            if column in df.columns:
                out = out.withColumn(column, F.first(column).over(strongest))
        out = out.withColumn(C.WEIGHT, F.col("_agg")).drop("_agg")
    return out.where("_rn = 1").drop("_rn")


# ---------------------------------------------------------------------- ids and order
def _id_map(
    spark: SparkSession, df: SparkFrame, column: str, kind: str, index_column: str
) -> tuple[IdMap, SparkFrame]:
    """Ids in order of first appearance in the file (as ``IdMap.from_values``), and a frame
    ``(column, index_column)`` to join them to their internal index."""
    from pyspark.sql import functions as F

    firsts = _to_pandas(df.groupBy(column).agg(F.min(POS).alias("_first")).orderBy("_first"))
    ids = firsts[column].astype(str).tolist()
    lookup = pd.DataFrame({column: ids, index_column: np.arange(len(ids), dtype=np.int64)})
    return IdMap(ids, kind=kind), spark.createDataFrame(lookup)


def leave_one_out_frame(df: SparkFrame, min_interactions: int = 3) -> SparkFrame:
    """Add :data:`SPLIT` (0 train, 1 validation, 2 test): per user the last row is test, the
    second-to-last validation, users with fewer than ``min_interactions`` rows stay in train.

    The rule of :func:`digirec.data.split.leave_one_out`, with window functions over each
    user's rows in chronological order.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    by_user = Window.partitionBy(C.USER_IDX)
    ordered = by_user.orderBy(*_chronological(df))
    position = F.row_number().over(ordered) - 1
    count = F.count(F.lit(1)).over(by_user)
    out = df.withColumn("_position", position).withColumn("_count", count)
    eligible = F.col("_count") >= min_interactions
    label = (
        F.when(eligible & (F.col("_position") == F.col("_count") - 1), 2)
        .when(eligible & (F.col("_position") == F.col("_count") - 2), 1)
        .otherwise(0)
    )
    return out.withColumn(SPLIT, label.cast("int")).drop("_position", "_count")


# ---------------------------------------------------------------------- the prepared data
@dataclass
class SparkPrepared:
    """Interactions prepared on Spark, and their copy on the driver.

    Attributes
    ----------
    dataset:
        The prepared rows as a :class:`Dataset` (equal to ``Dataset.from_raw`` on the raw data).
    frame:
        The same rows on Spark (``user_idx``, ``item_idx``, ``weight``, ... and :data:`SPLIT`
        when split), cached.
    masks:
        The leave-one-out masks over ``dataset.interactions`` when ``split=True``.
    seconds:
        Wall seconds per stage (``prepare``, ``split``, ``collect``).
    """

    dataset: Dataset
    frame: SparkFrame
    masks: SplitMasks | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def prepare(
    spark: SparkSession,
    raw: RawData,
    *,
    event_weights: EventWeights | None = None,
    duplicates: DuplicatePolicy = "first",
    include_catalog_items: bool = False,
    split: bool = False,
    min_interactions: int = 3,
) -> SparkPrepared:
    """Weights, repeated pairs, id maps, order (and the leave-one-out split) on Spark.

    The parameters mean what they mean for :meth:`Dataset.from_raw` and
    :func:`digirec.data.split.leave_one_out`.
    """
    from pyspark.sql import functions as F

    rule = event_weights or EventWeights()
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    df = to_spark(spark, raw.interactions)
    n_raw = len(raw.interactions)
    raw_events: dict[str, int] = {}
    if C.EVENT in raw.interactions.columns:
        counts = raw.interactions[C.EVENT].value_counts(dropna=False)
        raw_events = {str(k): int(v) for k, v in counts.items()}
    weighted, skipped = with_weights(df, rule)
    weighted = weighted.cache()
    user_map, users = _id_map(spark, weighted, C.USER_ID, "user", C.USER_IDX)
    item_map, items = _id_map(spark, weighted, C.ITEM_ID, "item", C.ITEM_IDX)
    n_rows = weighted.count()
    merged = merge_duplicates_frame(weighted, duplicates)
    indexed = (
        merged.join(F.broadcast(users), C.USER_ID)
        .join(F.broadcast(items), C.ITEM_ID)
        .drop(C.USER_ID, C.ITEM_ID)
    )
    seconds["prepare"] = time.perf_counter() - start
    if split:
        start = time.perf_counter()
        indexed = leave_one_out_frame(indexed, min_interactions)
        seconds["split"] = time.perf_counter() - start
    indexed = indexed.cache()

    start = time.perf_counter()
    order = [F.col(C.USER_IDX).asc(), *_chronological(indexed)]
    columns = [C.USER_IDX, C.ITEM_IDX, C.WEIGHT, C.TIMESTAMP, C.SOURCE_ROW]
    extra = [c for c in (C.RATING, C.EVENT) if c in indexed.columns]
    wanted = [c for c in columns if c in indexed.columns] + extra + ([SPLIT] if split else [])
    local = _to_pandas(indexed.orderBy(*order).select(*wanted))
    seconds["collect"] = time.perf_counter() - start
    if split:
        # Lazy Spark plans run at the first action: the split's real cost is inside "collect";
        # time it apart from the transfer by counting the split rows once more.
        start = time.perf_counter()
        indexed.groupBy(SPLIT).count().collect()
        seconds["split"] += time.perf_counter() - start

    table = pd.DataFrame(
        {
            C.USER_IDX: local[C.USER_IDX].to_numpy(dtype=np.int64),
            C.ITEM_IDX: local[C.ITEM_IDX].to_numpy(dtype=np.int64),
            C.WEIGHT: local[C.WEIGHT].to_numpy(dtype=np.float64),
            C.TIMESTAMP: (
                local[C.TIMESTAMP].to_numpy(dtype=np.float64, na_value=np.nan)
                if C.TIMESTAMP in local.columns
                else np.full(len(local), np.nan)
            ),
            C.SOURCE_ROW: local[C.SOURCE_ROW].to_numpy(dtype=np.int64),
        }
    )
    for column in extra:
        table[column] = _like_raw(local[column], raw.interactions[column])

    if raw.users is not None and include_catalog_items:
        user_map = user_map.extend(raw.users[C.USER_ID].astype(str))
    if raw.items is not None and include_catalog_items:
        item_map = item_map.extend(raw.items[C.ITEM_ID].astype(str))
    stats = DatasetStats(
        n_raw_interactions=n_raw,
        n_duplicates_merged=int(n_rows - len(table)),
        duplicates=duplicates,
        n_unknown_events_skipped=int(sum(skipped.values())),
        skipped_events=skipped,
        raw_events=raw_events,
    )
    dataset = Dataset(
        user_map=user_map,
        item_map=item_map,
        interactions=table,
        items=_align(raw.items, C.ITEM_ID, item_map),
        users=_align(raw.users, C.USER_ID, user_map),
        name=raw.name,
        stats=stats,
        extras=dict(raw.extras),
    )
    masks = None
    if split:
        label = local[SPLIT].to_numpy(dtype=np.int64)
        masks = SplitMasks(train=label == 0, valid=label == 1, test=label == 2)
    attach_frame(dataset, indexed)
    return SparkPrepared(dataset=dataset, frame=indexed, masks=masks, seconds=seconds)


def _like_raw(values: pd.Series, raw: pd.Series) -> NDArray[Any]:
    """A collected column in the raw column's kind: events stay text (missing = the raw
    column's own missing marker), ratings numbers."""
    if pd.api.types.is_numeric_dtype(raw.dtype):
        numbers: NDArray[Any] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return numbers.astype(raw.dtype, copy=False)
    missing = raw[raw.isna()].iloc[0] if raw.isna().any() else None
    out = values.to_numpy(dtype=object)
    out[pd.isna(out)] = missing
    result: NDArray[Any] = np.asarray(out, dtype=object)
    return result


# ---------------------------------------------------------------------- frames of datasets
_FRAMES: weakref.WeakKeyDictionary[Dataset, SparkFrame] = weakref.WeakKeyDictionary()


def attach_frame(dataset: Dataset, frame: SparkFrame) -> None:
    """Remember that ``frame`` (on Spark) holds exactly ``dataset``'s interactions, so that a
    Spark model fitted on ``dataset`` reads them there instead of shipping them again."""
    _FRAMES[dataset] = frame


def ratings_frame(dataset: Dataset, *, binary: bool) -> SparkFrame:
    """``(user_idx, item_idx, rating)`` on Spark: one row per observed pair, the rating 1
    (``binary``) or the summed weights (what ``Dataset.user_item_matrix`` holds)."""
    from pyspark.sql import functions as F

    frame = _FRAMES.get(dataset)
    if frame is None:
        matrix = dataset.user_item_matrix(binary=binary).tocoo()
        local = pd.DataFrame(
            {
                C.USER_IDX: matrix.row.astype(np.int32),
                C.ITEM_IDX: matrix.col.astype(np.int32),
                RATING_COL: matrix.data.astype(np.float64),
            }
        )
        frame = active_session().createDataFrame(local)
    else:
        frame = frame.groupBy(C.USER_IDX, C.ITEM_IDX).agg(F.sum(C.WEIGHT).alias(RATING_COL))
        if binary:
            frame = frame.withColumn(RATING_COL, F.lit(1.0))
    # Spark counts every given pair as an observation (and its penalty weight): pairs without
    # positive strength are absent in digirec's matrix, so they are absent here too.
    return frame.where(F.col(RATING_COL) > 0).select(
        F.col(C.USER_IDX).cast("int"), F.col(C.ITEM_IDX).cast("int"), RATING_COL
    )


def fit_spark_als(
    ratings: SparkFrame, config: SparkALSConfig, *, n_users: int, n_items: int
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Fit MLlib's implicit ALS on ``ratings`` and return dense ``(users, items)`` factors.

    Rows of users / items without a rating are zero (Spark returns no factor for them).
    """
    from pyspark.ml.recommendation import ALS

    als = ALS(
        rank=config.factors,
        maxIter=config.iterations,
        regParam=config.regularization,
        alpha=config.alpha,
        implicitPrefs=True,
        nonnegative=False,
        userCol=C.USER_IDX,
        itemCol=C.ITEM_IDX,
        ratingCol=RATING_COL,
        numUserBlocks=config.n_blocks,
        numItemBlocks=config.n_blocks,
        seed=config.random_state,
        # Cut the lineage every 5 iterations (used when the session has a checkpoint dir).
        checkpointInterval=5,
    )
    fitted = als.fit(ratings)
    return (
        _dense_factors(fitted.userFactors, n_users, config.factors),
        _dense_factors(fitted.itemFactors, n_items, config.factors),
    )


def _to_pandas(frame: SparkFrame) -> pd.DataFrame:
    """``frame`` collected to the driver (through Arrow)."""
    return pd.DataFrame(frame.toPandas())


def _dense_factors(frame: SparkFrame, n_rows: int, rank: int) -> NDArray[np.float32]:
    local = _to_pandas(frame)
    out = np.zeros((n_rows, rank), dtype=np.float32)
    if len(local):
        out[local["id"].to_numpy(dtype=np.int64)] = np.stack(local["features"].to_numpy())
    return out


# ---------------------------------------------------------------------- what the CLI runs
def spark_model_name(model: str) -> str:
    """The registered model that trains ``model`` on Spark; a clear error for any other."""
    try:
        return SPARK_MODELS[model]
    except KeyError:
        raise ConfigError(
            f"the spark engine trains {', '.join(sorted(SPARK_MODELS))} only, not {model!r}; "
            "use --engine local for it"
        ) from None
