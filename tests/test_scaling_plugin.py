"""The scalability-test plugin (``sparktensor.scaling.plugin``) run by pytest's ``pytester`` on LocalEngine."""
import json
import math
import pathlib
import subprocess
import sys

import pytest

from sparktensor.scaling import communication_at, sparknet_speedup

pytest_plugins = ["pytester"]

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "test_my_scaling.py"
PLUGIN = ("-p", "sparktensor.scaling.plugin")

TINY = """
import numpy as np
import sparktensor.nn as nn
import sparktensor.nn.functional as F

def tiny():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

def test_tiny(scaling):
    x = np.random.default_rng(0).standard_normal((96, 4)).astype(np.float32)
    result = scaling(tiny, (x, (x[:, 0] > 0).astype(np.int64)), loss=F.cross_entropy, tau=2, batch_size=8,
                     warmup=0)
    assert result.samples_per_second > 0
"""


def test_the_options_parametrize_engines_and_worker_counts(pytester):
    pytester.makepyfile(test_ids="""
        import pytest

        def test_pair(st_engine, st_workers):
            assert type(st_engine).__name__ == "LocalEngine" and st_engine.workers == 3

        @pytest.mark.scaling(engines=["local"], workers=[2, 1])
        def test_marked(st_engine, st_workers):
            pass
    """)
    result = pytester.runpytest(*PLUGIN, "--st-engines", "local", "--st-workers", "1,3", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_pair[[]local-K1[]] PASSED*", "*test_pair[[]local-K3[]] PASSED*",
                                 "*test_marked[[]local-K1[]] PASSED*", "*test_marked[[]local-K3[]] PASSED*"])


def test_the_marker_gives_a_tests_defaults(pytester):
    pytester.makepyfile(test_marked="""
        import pytest

        @pytest.mark.scaling(engines=["local"], workers=[4, 1])
        def test_marked(st_engine, st_workers):
            pass
    """)
    result = pytester.runpytest(*PLUGIN, "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_marked[[]local-K1[]]", "*test_marked[[]local-K4[]]"])


@pytest.mark.parametrize("option, value, named", [("--st-workers", "1,two", "two"), ("--st-workers", "0,1", "0"),
                                                   ("--st-engines", "local,sparc", "sparc")])
def test_bad_options_are_named(pytester, option, value, named):
    pytester.makepyfile(test_bad="def test_pair(st_engine, st_workers):\n    pass\n")
    result = pytester.runpytest(*PLUGIN, option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {option}:*{named}*"])


def test_a_bad_marker_is_named(pytester):
    pytester.makepyfile(test_bad="""
        import pytest

        @pytest.mark.scaling(workers=[1, -2])
        def test_pair(st_engine, st_workers):
            pass
    """)
    result = pytester.runpytest(*PLUGIN, "--st-engines", "local")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the scaling marker's workers: worker counts must be positive*-2*"])


def test_the_example_prints_the_table_saves_the_json_and_draws_the_png(pytester):
    pytester.makepyfile(test_my_scaling=EXAMPLE.read_text())
    result = pytester.runpytest(*PLUGIN, "--st-engines", "local", "--st-workers", "1,2", "--st-project-to", "8",
                                "--benchmark-json=out.json", "--st-plot=fig.png", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*sparktensor scaling*", "test_my_model_scales on local: tau 10, batch 64*",
                                 "| K | samples/s | speed-up | efficiency | C ms/step | S s/round | SparkNet speed-up |",
                                 "| 1 | * | 1.00 | 100% |*", "| 2 | *", "| 4 (projected) | *",
                                 "| 8 (projected) | *", "scaling figure: fig.png"])
    assert "| 16 (projected)" not in str(result.stdout)

    saved = json.loads((pytester.path / "out.json").read_text())
    info = {b["extra_info"]["workers"]: (b["extra_info"], b["stats"]) for b in saved["benchmarks"]}
    assert sorted(info) == [1, 2]
    for extra, stats in info.values():  # throughput from pytest-benchmark's own median
        assert extra["samples_per_second"] == pytest.approx(extra["samples"] / stats["median"])
        assert extra["engine"] == "local" and extra["tau"] == 10 and extra["speedup_base_workers"] == 1
        # a round is tau = 10 steps of 64 samples on each worker (4,096 samples: 64 or 32 steps each)
        assert extra["steps_per_round"] == 10
        assert extra["compute_per_step"] == pytest.approx(extra["compute_per_round"] / 10)
    one, two = info[1][0], info[2][0]
    assert two["speedup"] == pytest.approx(two["samples_per_second"] / one["samples_per_second"])
    assert two["efficiency"] == pytest.approx(two["speedup"] / 2)
    # SparkNet's best case from C and S measured at K = 2: K tau C / (tau C + S log2(K) / log2(2))
    c, s = two["compute_per_step"], two["communication_per_round"]
    for k in (4, 8):
        expected = k * 10 * c / (10 * c + s * math.log2(k))
        assert one["sparknet_projection"][str(k)]["sparknet_speedup"] == pytest.approx(expected)
        assert one["sparknet_projection"][str(k)]["samples_per_second"] == pytest.approx(expected * 64 / c)
    group, = saved["sparktensor_scaling"]
    assert group["case"] == "test_my_model_scales" and sorted(group["measured"]) == ["1", "2"]
    assert group["projection"] == one["sparknet_projection"]
    assert (pytester.path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_timing_falls_back_to_the_wall_clock_when_benchmarks_are_disabled(pytester):
    pytester.makepyfile(test_tiny=TINY)
    result = pytester.runpytest(*PLUGIN, "--st-engines", "local", "--st-workers", "1,2", "--benchmark-disable",
                                "--st-plot=")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["test_tiny on local: tau 2, batch 8*", "| 2 | *"])
    assert not (pytester.path / "scaling.png").exists()


def test_other_parameters_of_a_test_name_separate_cases(pytester):
    pytester.makepyfile(test_tiny=TINY.replace("def test_tiny(scaling):",
                                               "import pytest\n\n@pytest.mark.parametrize('width', [8, 16])\n"
                                               "def test_tiny(scaling, width):"))
    result = pytester.runpytest(*PLUGIN, "--st-engines", "local", "--st-workers", "1", "--benchmark-disable",
                                "--st-plot=")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["test_tiny[[]width=8[]] on local*", "test_tiny[[]width=16[]] on local*"])


def test_bad_arguments_to_scaling_are_named(pytester):
    pytester.makepyfile(test_bad="""
        import pytest
        import sparktensor.nn.functional as F

        def test_model(scaling):
            with pytest.raises(TypeError, match="model must be a Module"):
                scaling("mlp", lambda k: None, loss=F.cross_entropy)

        def test_data(scaling):
            with pytest.raises(TypeError, match="data must be an"):
                scaling(lambda: None, [1, 2], loss=F.cross_entropy)
    """)
    pytester.runpytest(*PLUGIN, "--st-engines", "local", "--st-workers", "1").assert_outcomes(passed=2)


def test_sparknet_speedup_is_the_serial_time_over_the_round_time():
    c, s, tau = 0.0245, 0.111, 10
    assert sparknet_speedup(8, tau, c, 0.0) == pytest.approx(8)  # no communication: ideal
    serial, parallel_round = 8 * tau * c, tau * c + s  # 8 tau steps alone, or one round of 8 workers
    assert sparknet_speedup(8, tau, c, s) == pytest.approx(serial / parallel_round)
    assert communication_at(8, s, 2) == pytest.approx(3 * s) and communication_at(1, s, 4) == pytest.approx(s / 2)
    with pytest.raises(ValueError, match="no time"):
        sparknet_speedup(2, tau, 0.0, 0.0)


def test_the_plugin_imports_without_pyspark_or_dask():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pyspark", "dask", "distributed"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import sparktensor.scaling.plugin
from sparktensor.scaling.engines import make_engine
make_engine("local", 2)
assert not {"pyspark", "dask", "distributed"} & set(sys.modules)
try:
    make_engine("spark", 2)
except (RuntimeError, ImportError) as e:
    print(e)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "spark" in done.stdout


def test_the_docs_show_the_example_file_as_it_is():
    page = (ROOT / "docs" / "scaling.md").read_text()
    assert EXAMPLE.read_text().strip() in page


def test_the_bench_extra_installs_the_plugin_by_its_entry_point():
    import importlib
    import tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (name, target), = project["entry-points"]["pytest11"].items()
    assert name == target == PLUGIN[1]  # one name: -p and the entry point never register it twice
    assert hasattr(importlib.import_module(target), "scaling")
    bench = " ".join(project["optional-dependencies"]["bench"])
    assert "pytest-benchmark" in bench and "matplotlib" in bench
