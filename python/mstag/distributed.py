"""Tagging many files with an existing distributed engine: Ray Data or Spark.

Neither engine is a dependency of ``mstag``: this module imports ``pyarrow``, ``ray`` and
``pyspark`` only inside the functions that need them. Both recipes send file *paths* to the
workers, which read the files themselves: every worker must see the files at the same paths
(a shared or network file system, or one machine).

Ray Data (one ``Tagger`` per actor, loaded once, reused for every batch)::

    import ray
    from mstag.distributed import RayTagger, tag_with_ray

    tag_with_ray(paths, "tags.parquet", num_actors=4)       # the whole recipe, or by hand:
    ds = ray.data.from_items([{"file": p} for p in paths])
    ds = ds.map_batches(RayTagger, concurrency=4, batch_size=16, num_cpus=1)
    ds.write_parquet("tags.parquet")

Spark (one ``Tagger`` per Python worker process, kept between tasks)::

    from mstag.distributed import SparkTagger
    t = SparkTagger()                                        # reads a "file" column
    tags = df.select("file").mapInPandas(t, schema=t.spark_schema())

Every recipe gives one row per input path, in the columns of :func:`output_schema`:

``file`` (string, the path as given), ``duration_s`` (float64), one float32 column per tag
named after the tag in manifest order (``"no vocals"`` keeps its space unless
``safe_names=True``, which gives ``"no_vocals"``), ``features`` (only with ``features=True``:
the ``feature_dim`` float32 values of ``Tagger.embed``), and ``error`` (string: null when the
file was tagged, else the library's message, the one ``mstag tag`` prints). A file that cannot
be tagged does not stop the job: its row has the error and nulls for everything else.
"""

import os
import re
import threading
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import Error, Tagger

__all__ = [
    "column_names",
    "output_schema",
    "tag_paths",
    "RayTagger",
    "tag_with_ray",
    "SparkTagger",
    "spark_tag",
]

#: The columns around the tag columns (no tag may take these names).
FILE = "file"
DURATION = "duration_s"
FEATURES = "features"
ERROR = "error"
_RESERVED = (FILE, DURATION, FEATURES, ERROR)


def column_names(tags: Sequence[str], safe_names: bool = False) -> List[str]:
    """The score columns for ``tags``: the tag names themselves, or with ``safe_names``
    every run of characters other than letters, digits and ``_`` replaced by ``_``
    (``"no vocals"`` -> ``"no_vocals"``), for tools that dislike spaces in names."""
    names = [re.sub(r"\W+", "_", t) if safe_names else t for t in tags]
    clash = set(names) & set(_RESERVED)
    if len(set(names)) != len(names) or clash:
        raise ValueError(f"tag names do not make distinct columns: {names}")
    return names


def output_schema(tags: Sequence[str], features: int = 0, safe_names: bool = False):
    """The ``pyarrow.Schema`` of the rows: file, duration_s, a float32 per tag,
    [features: fixed_size_list<float32>[features] when ``features`` > 0], error."""
    import pyarrow as pa

    fields = [pa.field(FILE, pa.string()), pa.field(DURATION, pa.float64())]
    fields += [pa.field(n, pa.float32()) for n in column_names(tags, safe_names)]
    if features:
        fields.append(pa.field(FEATURES, pa.list_(pa.float32(), features)))
    fields.append(pa.field(ERROR, pa.string()))
    return pa.schema(fields)


def _as_paths(column: Any) -> List[Optional[str]]:
    """A batch's path column (NumPy array, pandas Series, Arrow array, list) as strings."""
    if hasattr(column, "to_pylist"):  # pyarrow Array / ChunkedArray
        column = column.to_pylist()
    out: List[Optional[str]] = []
    for p in column:
        if p is None or (isinstance(p, float) and np.isnan(p)):
            out.append(None)
        elif isinstance(p, bytes):
            out.append(os.fsdecode(p))
        else:
            out.append(os.fspath(p) if hasattr(p, "__fspath__") else str(p))
    return out


def tag_paths(
    tagger: Tagger,
    paths: Iterable[Any],
    *,
    features: bool = False,
    safe_names: bool = False,
):
    """Tags ``paths`` with ``tagger``; a ``pyarrow.Table`` in the columns of
    :func:`output_schema`, one row per path, in order. Never raises for a file: a failed
    file's row holds its error message and nulls.

    The scores come from ``Tagger.predict_batch(paths, on_error="nan")`` (on CUDA, segments
    of several files in each model call); only the files it could not tag are tried again,
    one by one with ``Tagger.tag``, to get their messages. ``features=True`` takes the
    song-level features from the same pass (``predict_batch(..., features=True)``)."""
    import pyarrow as pa

    files = _as_paths(paths)
    n, n_tags = len(files), len(tagger.tags)
    errors: List[Optional[str]] = [None] * n
    for i, p in enumerate(files):
        if not p:
            errors[i] = "no path"
    todo = [i for i in range(n) if errors[i] is None]
    dim = tagger.feature_dim if features else 0
    scores = np.full((n, n_tags), np.nan, dtype=np.float32)
    durations = np.full(n, np.nan, dtype=np.float64)
    feats = np.full((n, dim), np.nan, dtype=np.float32)
    if todo:
        got = tagger.predict_batch([files[i] for i in todo], on_error="nan", features=features)
        scores[todo] = got[0]
        durations[todo] = got[1]
        if features:
            feats[todo] = got[2]
    for i in todo:
        if np.isnan(durations[i]):  # failed in the batch: once more, for the message
            try:
                song = tagger.tag(files[i])
                scores[i] = [song["tags"][t] for t in tagger.tags]
                durations[i] = song["duration_s"]
                if features:
                    feats[i] = tagger.embed(files[i])
            except Exception as e:  # mstag.Error, or anything else: recorded, not raised
                errors[i] = _message(e)
    failed = np.array([e is not None for e in errors], dtype=bool)
    schema = output_schema(tagger.tags, dim, safe_names)
    columns = [pa.array(files, pa.string()), pa.array(durations, pa.float64(), mask=failed)]
    columns += [pa.array(scores[:, j], pa.float32(), mask=failed) for j in range(n_tags)]
    if features:
        ftype = schema.field(FEATURES).type
        if failed.any():
            rows = [None if bad else row for bad, row in zip(failed, feats)]
            columns.append(pa.array(rows, ftype))
        else:
            values = pa.array(feats.reshape(-1), pa.float32())
            columns.append(pa.FixedSizeListArray.from_arrays(values, type=ftype))
    columns.append(pa.array(errors, pa.string()))
    return pa.Table.from_arrays(columns, schema=schema)


def _message(e: BaseException) -> str:
    if isinstance(e, Error):
        return str(e)  # the Rust library's message, as `mstag tag` prints it
    return f"{type(e).__name__}: {e}"


# --- Ray Data ------------------------------------------------------------------------------


class RayTagger:
    """A callable class for Ray Data's ``Dataset.map_batches``: each actor builds one
    ``Tagger`` (``tagger_kwargs``: ``device``, ``models``, ``batch``, ``threads``) in its
    constructor and tags every batch it is given::

        ds.map_batches(RayTagger, fn_constructor_kwargs={"features": True},
                       concurrency=4, batch_size=16, num_cpus=1)

    A batch (any ``batch_format``) needs a ``path_column`` of paths (default ``"file"``);
    the result is a ``pyarrow.Table`` (see :func:`tag_paths`). Other input columns are
    dropped."""

    def __init__(
        self,
        path_column: str = FILE,
        features: bool = False,
        safe_names: bool = False,
        **tagger_kwargs: Any,
    ) -> None:
        self.path_column = path_column
        self.features = features
        self.safe_names = safe_names
        self.tagger = Tagger(**tagger_kwargs)

    def __call__(self, batch: Any):
        return tag_paths(
            self.tagger,
            batch[self.path_column],
            features=self.features,
            safe_names=self.safe_names,
        )


def tag_with_ray(
    paths: Iterable[Any],
    out_dir: str,
    *,
    features: bool = False,
    num_actors: Optional[int] = None,
    batch_size: int = 16,
    safe_names: bool = False,
    **tagger_kwargs: Any,
) -> str:
    """Tags ``paths`` on the Ray cluster (``ray.init()`` first, else Ray starts a local one)
    and writes the rows as Parquet files into the folder ``out_dir``; returns ``out_dir``.

    ``num_actors``: actors, each holding one ``Tagger`` (default: the cluster's CPUs divided
    by ``threads``). Each actor asks for ``threads`` CPUs (``tagger_kwargs["threads"]``,
    default 1) or, with ``device="cuda"``, one GPU. ``batch_size``: paths per call."""
    import ray

    if not ray.is_initialized():
        ray.init()
    threads = int(tagger_kwargs.get("threads", 1))
    if num_actors is None:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        num_actors = max(1, cpus // max(1, threads))
    resources: Dict[str, Any] = {"num_cpus": threads}
    if tagger_kwargs.get("device") in ("cuda", "gpu"):
        resources["num_gpus"] = 1
    ds = ray.data.from_items([{FILE: p} for p in _as_paths(paths)])
    ds = ds.map_batches(
        RayTagger,
        fn_constructor_kwargs=dict(features=features, safe_names=safe_names, **tagger_kwargs),
        batch_format="pyarrow",
        batch_size=batch_size,
        concurrency=num_actors,
        **resources,
    )
    ds.write_parquet(out_dir)
    return out_dir


# --- Spark ---------------------------------------------------------------------------------

_WORKER_TAGGERS: Dict[Tuple[Tuple[str, Any], ...], Tagger] = {}
_WORKER_LOCK = threading.Lock()


def _worker_tagger(tagger_kwargs: Dict[str, Any]) -> Tagger:
    """One Tagger per process and set of arguments (Spark reuses its Python workers, so the
    models load once per worker, not once per task)."""
    key = tuple(sorted((k, str(v)) for k, v in tagger_kwargs.items()))
    with _WORKER_LOCK:
        t = _WORKER_TAGGERS.get(key)
        if t is None:
            t = _WORKER_TAGGERS[key] = Tagger(**tagger_kwargs)
        return t


class SparkTagger:
    """The function for Spark's ``DataFrame.mapInPandas`` (an iterator of pandas DataFrames
    in, one out), with the schema it yields::

        t = SparkTagger(features=False)
        tags = df.select("file").mapInPandas(t, schema=t.spark_schema())

    ``path_column``: the column of paths (default ``"file"``). ``tagger_kwargs`` go to
    ``Tagger`` in each Python worker. It pickles as its arguments. ``arrow`` is the same for
    ``DataFrame.mapInArrow`` (record batches in and out, no pandas)."""

    def __init__(
        self,
        path_column: str = FILE,
        features: bool = False,
        safe_names: bool = False,
        **tagger_kwargs: Any,
    ) -> None:
        self.path_column = path_column
        self.features = features
        self.safe_names = safe_names
        self.tagger_kwargs = tagger_kwargs

    def _table(self, paths: Any):
        return tag_paths(
            _worker_tagger(self.tagger_kwargs),
            paths,
            features=self.features,
            safe_names=self.safe_names,
        )

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        for pdf in batches:
            yield self._table(pdf[self.path_column]).to_pandas()

    def arrow(self, batches: Iterator[Any]) -> Iterator[Any]:
        """For ``mapInArrow``: pyarrow RecordBatches in and out."""
        import pyarrow as pa

        for rb in batches:
            table = self._table(rb.column(self.path_column))
            if self.features:  # Spark's ArrayType is a variable-size list
                i = table.schema.get_field_index(FEATURES)
                col = table.column(i).cast(pa.list_(pa.float32()))
                table = table.set_column(i, FEATURES, col)
            yield from table.to_batches()

    def spark_schema(self):
        """The ``pyspark.sql.types.StructType`` of the rows (the tags come from the models
        named by ``tagger_kwargs``, loaded here on the driver)."""
        from pyspark.sql import types as T

        tagger = _worker_tagger(self.tagger_kwargs)
        fields = [
            T.StructField(FILE, T.StringType()),
            T.StructField(DURATION, T.DoubleType()),
        ]
        fields += [
            T.StructField(n, T.FloatType()) for n in column_names(tagger.tags, self.safe_names)
        ]
        if self.features:
            fields.append(T.StructField(FEATURES, T.ArrayType(T.FloatType())))
        fields.append(T.StructField(ERROR, T.StringType()))
        return T.StructType(fields)


def spark_tag(df: Any, path_column: str = FILE, **kwargs: Any) -> Any:
    """``df``'s ``path_column`` tagged: a Spark DataFrame with the columns of
    :func:`output_schema` (``kwargs``: ``features``, ``safe_names`` and ``Tagger``'s)."""
    t = SparkTagger(path_column=path_column, **kwargs)
    return df.select(path_column).mapInPandas(t, schema=t.spark_schema())
