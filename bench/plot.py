"""The scaling figures of the benchmarks, drawn as PNGs next to ``bench/RESULTS.md`` from ``bench/figures.json``.

Run ``python bench/plot.py [FIGURES.json] [--out DIR]`` (defaults: ``bench/figures.json`` and the folder of that
file): it draws the figures whose sections the file has and names the ones it skips. Or import it:
``draw(figures, out_dir)`` returns the paths it wrote.

Benchmarks write the file with ``bench/figures.py``'s ``save_figures(section, values)``, which merges ``values``
into one section and keeps the others. A section is a JSON object; the sections drawn here, each with the PNG
it becomes (any other section is kept in the file but not drawn):

* ``"throughput"`` -> ``scaling_workers.png``: ``{"<K>": {"samples_per_second": float, ...}}`` for the numbers
  of workers K measured (``bench/test_scaling_data_parallel.py``); drawn as the speed-up over the smallest K.
* ``"tau_sweep"`` -> ``scaling_tau.png``: ``{"K<K>-tau<tau>": {"seconds": float, "reached": bool, ...}}``,
  the training time until the target accuracy (``bench/test_tau_sweep.py``); drawn against tau, and as the
  speed-up over the K = 1 run where the file has one.
* ``"model_parallel"`` -> ``scaling_model_parallel.png``: ``{"<M>": {"step_seconds": float, ...}}``, the time of
  one training step with the model split over M ranks; drawn as the speed-up over the smallest M.
* ``"mesh"`` -> ``scaling_mesh.png``: ``{"<D>x<M>": {"samples_per_second": float, ...}}`` for a mesh of D
  data-parallel replicas of M model shards; drawn as a D x M heat map, each cell with its samples per second
  and its speed-up over the 1x1 cell.
* ``"speedup_model"`` -> ``sparknet_projection.png``: SparkNet's model (``../shared/DESIGN.md``). With
  ``"projection": {"<K>": {"naive": float, "tau<tau>": float, ...}}`` those projected speed-ups are drawn
  against K; without it they are computed here for K = 1..64 from the measured ``"C"`` (seconds of one SGD
  step) and ``"S"`` (or ``"S2"``, ``"S1"``: seconds of one broadcast and collect) for each tau in ``"taus"``:
  naive averaging every step C / (C/K + S), SparkNet N_a C / (M_a (tau C + S)) taking the best case
  M_a = N_a / (K tau), i.e. K tau C / (tau C + S).
* ``"communication"`` -> ``communication.png``: ``{"<name>": {"parameters": int, "compute": float,
  "communication": float}}``, seconds per round, drawn as bars per model size.
"""
import argparse
import json
import pathlib
import re
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
FIGURES = HERE / "figures.json"


def load(path=FIGURES):
    """The sections in ``path`` (an empty dict when the file does not exist yet)."""
    path = pathlib.Path(path)
    if not path.exists():
        return {}
    figures = json.loads(path.read_text())
    if not isinstance(figures, dict):
        raise ValueError(f"{path}: expected a JSON object of sections, got a JSON {type(figures).__name__}")
    return figures


# ----- from sections to numbers -----
def _entries(section, name, key, pattern=r"(\d+)"):
    """``[(entry, value of key)]`` of a section, sorted, or an error naming the entry; an entry's name is
    replaced by the numbers its ``pattern`` captures (``"K2-tau10"`` -> ``(2, 10)``) where it captures any."""
    if not isinstance(section, dict) or not section:
        raise ValueError(f"figures.json: section {name!r} must be a non-empty JSON object")
    found = []
    for entry, values in section.items():
        match = re.fullmatch(pattern, entry)
        value = values.get(key) if isinstance(values, dict) else None
        if match is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"figures.json: {name}[{entry!r}] must be named like {pattern!r} and have a "
                             f"numeric {key!r}, got {values!r}")
        found.append((tuple(int(g) for g in match.groups()) if match.groups() else entry, float(value)))
    return sorted(found)


def speedups(section, name, key, faster="higher"):
    """``(counts, speed-ups over the smallest count)`` of a section keyed by a count (K or M)."""
    entries = _entries(section, name, key)
    counts = np.array([count for (count,), _ in entries], dtype=float)
    values = np.array([v for _, v in entries])
    ratio = values / values[0] if faster == "higher" else values[0] / values
    return counts, ratio


def tau_sweep(section):
    """``{K: (taus, seconds, reached)}`` of the tau sweep."""
    entries = _entries(section, "tau_sweep", "seconds", r"K(\d+)-tau(\d+)")
    by_workers = {}
    for (workers, tau), seconds in entries:
        reached = bool(section[f"K{workers}-tau{tau}"].get("reached", True))
        by_workers.setdefault(workers, []).append((tau, seconds, reached))
    return {k: tuple(np.array(column) for column in zip(*rows)) for k, rows in by_workers.items()}


def mesh_table(section):
    """``(D values, M values, samples/s as a D x M array with NaN where not measured)``."""
    entries = dict(_entries(section, "mesh", "samples_per_second", r"(\d+)x(\d+)"))
    ds, ms = sorted({d for d, _ in entries}), sorted({m for _, m in entries})
    values = np.array([[entries.get((d, m), np.nan) for m in ms] for d in ds])
    return ds, ms, values


def sparknet_projection(C, S, taus, K_max=64):
    """``(K, {"naive": ..., "tau<t>": ...})`` for K = 1..K_max, best case M_a = N_a / (K tau) (module docstring)."""
    if not (C > 0 and S >= 0 and K_max >= 1):
        raise ValueError(f"figures.json: speedup_model needs C > 0 and S >= 0, got C={C}, S={S}")
    K = np.arange(1, int(K_max) + 1, dtype=float)
    curves = {"naive": C / (C / K + S)}
    curves.update({f"tau{int(tau)}": K * tau * C / (tau * C + S) for tau in taus})
    return K, curves


def projection(section):
    """``(K, {curve name: speed-ups}, title)`` from the ``speedup_model`` section."""
    rows = section.get("projection") if isinstance(section, dict) else None
    if rows:
        K = sorted(rows, key=int)
        names = list(rows[K[0]])
        curves = {n: np.array([float(rows[k][n]) for k in K]) for n in names}
        return np.array(K, dtype=float), curves, "SparkNet's model: projected speed-up (from the measured N_a, M_a)"
    if not isinstance(section, dict) or "C" not in section or not any(k in section for k in ("S", "S2", "S1")):
        raise ValueError("figures.json: section 'speedup_model' needs a 'projection', or the measured 'C' and 'S'")
    S = next(float(section[k]) for k in ("S", "S2", "S1") if k in section)
    K, curves = sparknet_projection(float(section["C"]), S, section.get("taus", [10]))
    return K, curves, (f"SparkNet's model, best case: C = {float(section['C']) * 1e3:.1f} ms/step, "
                       f"S = {S * 1e3:.0f} ms/round")


# ----- drawing -----
def _figure(columns=1, size=(800, 550), dpi=100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(size[0] * columns / dpi, size[1] / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(1, columns, squeeze=False)[0]


def _plain_log_axis(axis, ticks):
    """A log axis labelled with the plain numbers ``ticks`` (1, 2, 4... rather than 2^0, 2^1...)."""
    from matplotlib.ticker import FuncFormatter, NullLocator
    axis.set_ticks(ticks)
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_locator(NullLocator())


def _integer_axis(ax, label):
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(label)
    ax.grid(alpha=0.3)


def _speedup_figure(counts, ratio, label, title, path):
    figure, (ax,) = _figure()
    ax.plot(counts, ratio, marker="o", label="measured")
    ax.plot(counts, counts / counts[0], color="gray", linestyle=":", label="ideal")
    _integer_axis(ax, label)
    ax.set_ylabel("speed-up")
    ax.set_title(title)
    ax.legend()
    figure.savefig(path, format="png")


def draw_workers(section, path):
    counts, ratio = speedups(section, "throughput", "samples_per_second")
    _speedup_figure(counts, ratio, "workers K", "data parallel: throughput over K = 1", path)


def draw_model_parallel(section, path):
    counts, ratio = speedups(section, "model_parallel", "step_seconds", faster="lower")
    _speedup_figure(counts, ratio, "model shards M", "model parallel: step time of M = 1 over M", path)


def draw_tau(section, path):
    sweep = tau_sweep(section)
    serial = sweep.get(1)
    figure, axes = _figure(columns=2 if serial is not None else 1)
    all_taus = sorted({int(t) for taus, _, _ in sweep.values() for t in taus})
    for index, (workers, (taus, seconds, reached)) in enumerate(sorted(sweep.items())):
        color, missed = f"C{index}", ~reached.astype(bool)
        axes[0].plot(taus, seconds, marker="o", color=color, label=f"K = {workers}")
        if missed.any():
            axes[0].plot(taus[missed], seconds[missed], "x", color=color, markersize=10,
                         label=f"K = {workers}: target not reached")
        if serial is not None and workers != 1:
            axes[1].plot(taus[~missed], serial[1].min() / seconds[~missed], marker="o", color=color,
                         label=f"K = {workers}")
    axes[0].set_ylabel("training seconds to the target accuracy")
    axes[0].set_title("time to accuracy against tau")
    if serial is not None:
        axes[1].set_ylabel("speed-up over K = 1")
        axes[1].set_title("speed-up to accuracy against tau")
    for ax in axes:
        ax.set_xscale("log")
        _plain_log_axis(ax.xaxis, all_taus)
        ax.set_xlabel("local steps per round tau")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    figure.savefig(path, format="png")


def draw_mesh(section, path):
    ds, ms, values = mesh_table(section)
    base = values[0, 0] if (ds[0], ms[0]) == (1, 1) else np.nan
    figure, (ax,) = _figure()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", origin="lower")
    figure.colorbar(image, ax=ax, label="samples / s")
    for (i, j), v in np.ndenumerate(values):
        text = "not measured" if np.isnan(v) else f"{v:,.0f}/s" + (f"\n{v / base:.2f}x" if base > 0 else "")
        # masked cells are blank; viridis is dark at the low end
        color = "dimgray" if np.isnan(v) else "white" if v < 0.6 * np.nanmax(values) else "black"
        ax.text(j, i, text, ha="center", va="center", color=color)
    ax.set_xticks(range(len(ms)), [str(m) for m in ms])
    ax.set_yticks(range(len(ds)), [str(d) for d in ds])
    ax.set_xlabel("model shards M")
    ax.set_ylabel("data-parallel replicas D")
    ax.set_title("D x M mesh: samples per second")
    figure.savefig(path, format="png")


def draw_projection(section, path):
    K, curves, title = projection(section)
    figure, (ax,) = _figure()
    ax.plot(K, K, color="gray", linestyle=":", label="ideal")
    for name, values in curves.items():
        label = "naive: average every step" if name == "naive" else f"SparkNet, tau = {name.removeprefix('tau')}"
        ax.plot(K, values, marker="o" if len(K) < 10 else None, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    _plain_log_axis(ax.xaxis, [2 ** i for i in range(int(np.log2(K.max())) + 1)])
    top = max(K.max(), max(v.max() for v in curves.values()))
    low = min(1.0, min(v.min() for v in curves.values()))
    _plain_log_axis(ax.yaxis, [2.0 ** i for i in range(int(np.floor(np.log2(low))), int(np.log2(top)) + 1)])
    ax.set_xlabel("workers K")
    ax.set_ylabel("projected speed-up")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    figure.savefig(path, format="png")


def draw_communication(section, path):
    compute = dict(_entries(section, "communication", "compute", r".+"))
    communication = dict(_entries(section, "communication", "communication", r".+"))
    names = sorted(compute, key=lambda name: (section[name].get("parameters", 0), name))
    figure, (ax,) = _figure()
    x = np.arange(len(names))
    ax.bar(x - 0.2, [compute[n] for n in names], 0.4, label="compute")
    ax.bar(x + 0.2, [communication[n] for n in names], 0.4, label="communication")
    ax.set_xticks(x, names)
    ax.set_ylabel("seconds per round")
    ax.set_title("one round: compute against communication")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    figure.savefig(path, format="png")


#: section -> (PNG, drawing function), in the order of the module docstring
DRAWINGS = {
    "throughput": ("scaling_workers.png", draw_workers),
    "tau_sweep": ("scaling_tau.png", draw_tau),
    "model_parallel": ("scaling_model_parallel.png", draw_model_parallel),
    "mesh": ("scaling_mesh.png", draw_mesh),
    "speedup_model": ("sparknet_projection.png", draw_projection),
    "communication": ("communication.png", draw_communication),
}


def draw(figures, out_dir=HERE):
    """Draw the figure of every section of ``figures`` that has one into ``out_dir``; returns the paths written."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for section, (file_name, drawing) in DRAWINGS.items():
        if section in figures:
            drawing(figures[section], out_dir / file_name)
            written.append(out_dir / file_name)
    return written


def main(argv=None):
    """``python bench/plot.py``: draw the figures of the figures file."""
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("figures", nargs="?", default=str(FIGURES), help="the figures file (JSON)")
    arguments.add_argument("--out", default=None, help="folder of the PNGs (default: the figures file's)")
    args = arguments.parse_args(argv)
    figures = load(args.figures)
    for path in draw(figures, args.out or pathlib.Path(args.figures).resolve().parent):
        print(f"wrote {path}")
    missing = [section for section in DRAWINGS if section not in figures]
    if missing:
        print(f"not measured yet, so not drawn: {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
