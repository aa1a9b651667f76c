"""mstag.distributed on Ray Data: paths -> map_batches(RayTagger) (one Tagger per actor) ->
Parquet, on a local Ray cluster of 2 CPUs, equal to `mstag tag` within 1e-5."""

import time

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'ray[data]')")
pytest.importorskip("ray.data", reason="ray[data] is not installed")
pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")

import mstag  # noqa: E402
from _distributed import check_rows, make_files  # noqa: E402
from mstag.distributed import RayTagger, tag_with_ray  # noqa: E402

# Ray Data's own DataContext warns about its deprecated settings.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")


@pytest.fixture(scope="module")
def cluster():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=256 * 1024 * 1024,
        configure_logging=False,
    )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_files(tmp_path_factory.mktemp("songs"))


def test_tag_with_ray_equals_the_program(cluster, files, tagger, tmp_path):
    t0 = time.perf_counter()
    out = tag_with_ray(list(files.values()), str(tmp_path / "tags"), num_actors=2, batch_size=2)
    wall = time.perf_counter() - t0
    table = pq.read_table(out)
    diff = check_rows(table, files, tagger.tags)
    print(f"tag_with_ray: {table.num_rows} files in {wall:.1f} s, max |ray - cli| = {diff:.3g}")


def test_map_batches_recipe_with_features(cluster, files, tagger, tmp_path):
    # The recipe of python/README.md, by hand.
    t0 = time.perf_counter()
    ds = ray.data.from_items([{"file": p} for p in files.values()])
    ds = ds.map_batches(
        RayTagger,
        fn_constructor_kwargs={"features": True},
        concurrency=1,
        batch_size=4,
        num_cpus=1,
    )
    ds.write_parquet(str(tmp_path / "tags"))
    wall = time.perf_counter() - t0
    table = pq.read_table(str(tmp_path / "tags"))
    ftype = table.schema.field("features").type
    assert pa.types.is_fixed_size_list(ftype) and ftype.list_size == tagger.feature_dim == 960
    assert ftype.value_type == pa.float32()
    diff = check_rows(table, files, tagger.tags, features=True)
    print(f"map_batches + features: {wall:.1f} s, max |ray - cli| = {diff:.3g}")
