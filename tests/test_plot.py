"""``sparktensor plot`` on histories of real (small) training runs, and ``bench/plot.py``'s scaling figures."""
import importlib.util
import json
import pathlib
import struct

import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn.functional as F
from sparktensor import cli, models
from sparktensor import plot as st_plot

pytest.importorskip("matplotlib")
ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _train(tau, rounds=6, evaluate=True):
    """The history of a short parameter-averaging run in this process (an MLP on separable blobs)."""
    rng = np.random.default_rng(tau)
    labels = rng.integers(0, 3, 240)
    x = (rng.standard_normal((240, 4)) + 2.0 * np.eye(3, 4)[labels]).astype(np.float32)
    st.manual_seed(0)
    model = models.MLP(4, (16,), 3)
    optimizer = st.optim.SGD(model.parameters(), lr=0.1)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=2, tau=tau, batch_size=16,
                                      engine=dist.LocalEngine(), progress=False)
    eval_data = (x[:60], labels[:60]) if evaluate else None
    _, history = trainer.fit((x, labels), rounds=rounds, eval_data=eval_data, eval_every=2)
    return history


@pytest.fixture(scope="module")
def histories(tmp_path_factory):
    folder = tmp_path_factory.mktemp("histories")
    paths = []
    for tau in (2, 4):
        path = folder / f"tau{tau}.json"
        _train(tau).to_json(path)
        paths.append(path)
    return paths


def png_size(path):
    """(width, height) from a PNG's header, after checking it is a PNG."""
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def _axes(figure, title):
    found = [ax for ax in figure.axes if ax.get_title() == title]
    assert len(found) == 1, [ax.get_title() for ax in figure.axes]
    return found[0]


def _line(ax, label):
    found = [line for line in ax.get_lines() if line.get_label() == label]
    assert len(found) == 1, [line.get_label() for line in ax.get_lines()]
    return found[0].get_xdata(), found[0].get_ydata()


def test_the_figure_plots_exactly_the_history(histories):
    history = st_plot.load_history(histories[0])
    figure = st_plot.history_figure(histories)
    rounds, wall = np.asarray(history["round"]), np.cumsum(history["seconds"])
    evaluated = [i for i, r in enumerate(history) if r.get("accuracy") is not None]
    assert len(evaluated) == 3 and np.all(np.diff(wall) > 0)

    for title, x in (("loss against round", rounds), ("loss against wall time", wall)):
        xs, ys = _line(_axes(figure, title), "tau2")
        np.testing.assert_array_equal(xs, x)
        np.testing.assert_array_equal(ys, history["loss"])
        xs, ys = _line(_axes(figure, title), "tau2 (eval)")
        np.testing.assert_array_equal(xs, x[evaluated])
        np.testing.assert_array_equal(ys, [history["eval_loss"][i] for i in evaluated])
    for title, x in (("accuracy against round", rounds), ("accuracy against wall time", wall)):
        xs, ys = _line(_axes(figure, title), "tau2")
        np.testing.assert_array_equal(xs, x[evaluated])
        np.testing.assert_array_equal(ys, [history["accuracy"][i] for i in evaluated])
    legend = [t.get_text() for t in _axes(figure, "accuracy against round").get_legend().get_texts()]
    assert legend == ["tau2", "tau4"]


def test_cli_writes_a_png_of_the_requested_size(histories, tmp_path, capsys):
    out = tmp_path / "pictures" / "runs.png"
    assert cli.main(["plot", *map(str, histories), "-o", str(out), "--size", "900x600"]) == 0
    assert png_size(out) == (900, 600)
    assert str(out) in capsys.readouterr().out
    import matplotlib.image
    assert matplotlib.image.imread(out).shape[:2] == (600, 900)


def test_default_output_is_next_to_the_history(histories):
    out = st_plot.plot_histories([histories[1]])
    assert pathlib.Path(out) == histories[1].with_suffix(".png")
    assert png_size(out) == (1200, 800)


def test_history_without_evaluation_has_only_loss_axes():
    figure = st_plot.history_figure([_train(2, rounds=3, evaluate=False)])
    assert sorted(ax.get_title() for ax in figure.axes) == ["loss against round", "loss against wall time"]


def test_same_file_names_are_told_apart_by_their_folders(tmp_path):
    paths = [tmp_path / run / "history.json" for run in ("a", "b")]
    assert st_plot.run_labels(paths) == ["a/history", "b/history"]


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("not json at all", "is not JSON"),
    ('{"loss": [1, 2]}', "expected a JSON list of round records"),
    ("[]", "without any round"),
    ('[{"round": 1, "loss": 0.5}]', "record 0 has no numeric seconds"),
])
def test_bad_history_files_are_named(tmp_path, capsys, content, message):
    path = tmp_path / "history.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["plot", str(path), "-o", str(tmp_path / "out.png")]) == 2
    error = capsys.readouterr().err
    assert message in error and str(path) in error
    assert not (tmp_path / "out.png").exists()


def test_bad_size_and_output_are_refused(histories, tmp_path, capsys):
    assert cli.main(["plot", str(histories[0]), "--size", "big", "-o", str(tmp_path / "x.png")]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err
    assert cli.main(["plot", str(histories[0]), "-o", str(tmp_path / "x.pdf")]) == 2
    assert ".png" in capsys.readouterr().err


# ----- bench/plot.py -----
@pytest.fixture(scope="module")
def bench_plot():
    spec = importlib.util.spec_from_file_location("bench_plot", ROOT / "bench" / "plot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SYNTHETIC = {  # sections as the benchmarks write them with bench/figures.py's save_figures
    "throughput": {"1": {"samples_per_second": 1700.0, "compute": 0.25}, "2": {"samples_per_second": 2720.0},
                   "4": {"samples_per_second": 4250.0}},
    "tau_sweep": {"K1-tau10": {"seconds": 120.0, "reached": True}, "K2-tau1": {"seconds": 400.0, "reached": False},
                  "K2-tau10": {"seconds": 80.0, "reached": True}, "K2-tau50": {"seconds": 60.0, "reached": True}},
    "model_parallel": {"1": {"step_seconds": 0.9}, "2": {"step_seconds": 0.5}},
    "mesh": {"1x1": {"samples_per_second": 100.0}, "2x1": {"samples_per_second": 180.0},
             "1x2": {"samples_per_second": 150.0}},
    "speedup_model": {"C": 0.025, "S1": 0.1, "S2": 0.11, "taus": [10, 50],
                      "projection": {"1": {"naive": 0.2, "tau10": 0.7, "tau50": 0.9},
                                     "64": {"naive": 0.22, "tau10": 40.0, "tau50": 55.0}}},
    "communication": {"10.0M-sgd": {"parameters": 10_000_000, "compute": 0.3, "communication": 2.4},
                      "1.1M-sgd": {"parameters": 1_100_000, "compute": 0.04, "communication": 1.1}},
    "overhead": {"spark": {"seconds": 9.0}},  # a section with no figure: kept, not drawn
}
PNGS = ["scaling_workers.png", "scaling_tau.png", "scaling_model_parallel.png", "scaling_mesh.png",
        "sparknet_projection.png", "communication.png"]


def test_bench_plot_draws_every_figure_of_a_figures_file(bench_plot, tmp_path, capsys):
    figures = tmp_path / "figures.json"
    figures.write_text(json.dumps(SYNTHETIC))
    assert bench_plot.main([str(figures)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(PNGS)
    for name in PNGS:
        width, height = png_size(tmp_path / name)
        assert width >= 800 and height >= 550
    assert "not measured yet" not in capsys.readouterr().out


def test_bench_plot_draws_the_figures_present_only(bench_plot, tmp_path, capsys):
    figures = tmp_path / "figures.json"
    figures.write_text(json.dumps({k: SYNTHETIC[k] for k in ("throughput", "communication", "overhead")}))
    assert bench_plot.main([str(figures), "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["communication.png", "scaling_workers.png"]
    assert "not drawn: tau_sweep, model_parallel, mesh, speedup_model" in capsys.readouterr().out


def test_bench_plot_draws_the_real_figures_file(bench_plot, tmp_path):
    figures = bench_plot.load()
    if not figures:
        pytest.skip("bench/figures.json has no figures yet")
    written = bench_plot.draw(figures, tmp_path)
    assert [p.name for p in written] == [bench_plot.DRAWINGS[s][0] for s in bench_plot.DRAWINGS if s in figures]
    assert all(png_size(p)[0] > 0 for p in written)


def test_bench_plot_numbers(bench_plot):
    K, speedup = bench_plot.speedups(SYNTHETIC["throughput"], "throughput", "samples_per_second")
    np.testing.assert_array_equal(K, [1, 2, 4])
    np.testing.assert_allclose(speedup, [1.0, 2720 / 1700, 4250 / 1700])
    M, speedup = bench_plot.speedups(SYNTHETIC["model_parallel"], "model_parallel", "step_seconds", faster="lower")
    np.testing.assert_allclose(speedup, [1.0, 0.9 / 0.5])
    ds, ms, values = bench_plot.mesh_table(SYNTHETIC["mesh"])
    assert (ds, ms) == ([1, 2], [1, 2])
    np.testing.assert_array_equal(values, [[100, 150], [180, np.nan]])
    sweep = bench_plot.tau_sweep(SYNTHETIC["tau_sweep"])
    taus, seconds, reached = sweep[2]
    np.testing.assert_array_equal(taus, [1, 10, 50])
    np.testing.assert_array_equal(seconds, [400, 80, 60])
    assert reached.tolist() == [False, True, True] and sweep[1][0].tolist() == [10]


def test_sparknet_projection_follows_the_model(bench_plot):
    C, S = 0.025, 0.11
    K, curves = bench_plot.sparknet_projection(C, S, [10], K_max=64)
    assert K[0] == 1 and K[-1] == 64
    np.testing.assert_allclose(curves["naive"], C / (C / K + S))
    np.testing.assert_allclose(curves["tau10"], K * 10 * C / (10 * C + S))
    assert curves["naive"].max() < C / S and curves["tau10"][-1] > 0.5 * 64  # tau hides S; naive cannot
    # without the benchmark's projection, the curves come from the measured C and S
    K, computed, _ = bench_plot.projection({"C": C, "S2": S, "taus": [10]})
    np.testing.assert_allclose(computed["tau10"], curves["tau10"])
    K, given, _ = bench_plot.projection(SYNTHETIC["speedup_model"])
    np.testing.assert_array_equal(K, [1, 64])
    np.testing.assert_array_equal(given["tau50"], [0.9, 55.0])


@pytest.mark.parametrize("broken, messages", [
    ({"throughput": {"1": {"samples_per_second": 10.0}, "2": {"compute": 0.1}}},
     ["throughput['2']", "numeric 'samples_per_second'"]),
    ({"tau_sweep": {"tau10": {"seconds": 3.0}}}, ["tau_sweep['tau10'] must be named like"]),
    ({"mesh": {}}, ["section 'mesh' must be a non-empty JSON object"]),
    ({"speedup_model": {"C": 0.1}}, ["needs a 'projection', or the measured 'C' and 'S'"]),
])
def test_bench_plot_names_a_malformed_section(bench_plot, tmp_path, broken, messages):
    with pytest.raises(ValueError) as error:
        bench_plot.draw(broken, tmp_path)
    assert all(message in str(error.value) for message in messages), str(error.value)
