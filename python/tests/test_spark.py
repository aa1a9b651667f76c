"""mstag.distributed on Spark: a DataFrame of paths -> mapInPandas(SparkTagger) (one Tagger
per Python worker) -> Parquet, in local mode on 2 cores, equal to `mstag tag` within 1e-5."""

import os
import shutil
import sys
import time

import pytest

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed")
pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")
pytest.importorskip("pandas", reason="pandas is not installed (mapInPandas needs it)")

from _distributed import check_rows, make_files  # noqa: E402
from mstag.distributed import SparkTagger, spark_tag  # noqa: E402


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("pyspark needs Java (17 or newer): no java on PATH and no JAVA_HOME")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("mstag-test")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.local.dir", str(tmp_path_factory.mktemp("spark-local")))
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_files(tmp_path_factory.mktemp("songs"))


def test_map_in_pandas_equals_the_program(spark, files, tagger, tmp_path):
    # The recipe of python/README.md.
    t0 = time.perf_counter()
    df = spark.createDataFrame([(p,) for p in files.values()], "file string").repartition(2)
    t = SparkTagger()
    tags = df.mapInPandas(t, schema=t.spark_schema())
    tags.write.parquet(str(tmp_path / "tags"))
    wall = time.perf_counter() - t0
    table = pq.read_table(str(tmp_path / "tags"))
    diff = check_rows(table, files, tagger.tags)
    print(f"mapInPandas: {table.num_rows} files in {wall:.1f} s, max |spark - cli| = {diff:.3g}")


def test_spark_tag_with_features(spark, files, tagger, tmp_path):
    df = spark.createDataFrame([(p, 1) for p in files.values()], "song string, n int")
    tags = spark_tag(df, path_column="song", features=True)
    assert tags.columns[:3] == ["file", "duration_s", tagger.tags[0]]  # the paths: "file"
    tags.write.parquet(str(tmp_path / "tags"))
    table = pq.read_table(str(tmp_path / "tags"))
    assert pa.types.is_list(table.schema.field("features").type)
    diff = check_rows(table, files, tagger.tags, features=True)
    print(f"spark_tag + features: max |spark - cli| = {diff:.3g}")


def test_map_in_arrow(spark, files, tagger):
    df = spark.createDataFrame([(p,) for p in files.values()], "file string")
    t = SparkTagger(safe_names=True)
    rows = df.mapInArrow(t.arrow, schema=t.spark_schema()).toArrow()
    assert "no_vocals" in rows.column_names and "no vocals" not in rows.column_names
    assert rows.num_rows == len(files)
    bad = [r for r in rows.to_pylist() if r["error"] is not None]
    assert [r["file"] for r in bad] == [files["bad"]]
