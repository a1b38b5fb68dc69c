"""Pictures of training runs: loss and accuracy from ``history.json`` files, against rounds and wall time.

``sparktensor plot run/history.json -o run.png`` draws one run; several files draw several runs on the same
axes, named after their files. Figures are drawn with matplotlib's Agg renderer directly (no ``pyplot``), so
plotting changes no global matplotlib state and needs no display.
"""
import json
import os

import numpy as np

from .dist.trainers.history import History

#: the columns of the figure: the x axis of each
X_AXES = (("round", "round"), ("wall time (s)", "wall time"))
_REQUIRED = ("round", "loss", "seconds")


def load_history(path):
    """The ``History`` in ``path``, or an error saying why the file is not one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"history file {path!r} does not exist")
    with open(path) as f:
        text = f.read()
    try:
        records = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not a training history: it is not JSON ({e})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{path} is not a training history: expected a JSON list of round records, as "
                         f"'sparktensor train' writes to history.json, got a JSON {type(records).__name__}")
    if not records:
        raise ValueError(f"{path} is a training history without any round: nothing to plot")
    for i, record in enumerate(records):
        missing = [k for k in _REQUIRED if not isinstance(record.get(k), (int, float))]
        if missing:
            raise ValueError(f"{path} is not a training history: record {i} has no numeric "
                             f"{', '.join(missing)}")
    return History(records)


def run_labels(paths):
    """A legend label per history file: its name without ``.json``, with its folder where names repeat."""
    names = [os.path.splitext(os.path.basename(os.fspath(p)))[0] for p in paths]
    if len(set(names)) == len(names):
        return names
    return [os.path.join(os.path.basename(os.path.dirname(os.path.abspath(os.fspath(p)))), name)
            for p, name in zip(paths, names)]


def curves(history):
    """What is plotted of one history, as NumPy arrays: ``{name: (rounds, wall_time, values)}``.

    ``loss`` is the training loss of every round; ``eval_loss`` and ``accuracy`` cover the evaluated rounds
    only. Wall time is the cumulative ``seconds`` of the rounds.
    """
    rounds = np.asarray(history["round"], dtype=float)
    wall = np.cumsum(np.asarray(history["seconds"], dtype=float))
    out = {"loss": (rounds, wall, np.asarray(history["loss"], dtype=float))}
    for key in ("eval_loss", "accuracy"):
        present = np.array([v is not None for v in history[key]], dtype=bool)
        if present.any():
            values = np.asarray([v for v in history[key] if v is not None], dtype=float)
            out[key] = (rounds[present], wall[present], values)
    return out


def history_figure(histories, labels=None, size=(1200, 800), dpi=100):
    """A matplotlib ``Figure`` of training runs: loss (and accuracy where evaluated) against rounds and wall time.

    Args:
        histories: ``History`` objects (or paths of history files).
        labels: a legend label per run (default: the file names, or ``run 1``, ``run 2``...).
        size: (width, height) of the picture in pixels.
        dpi: pixels per inch (fixes the size of the text).

    Each axes' title names what it shows (``"loss against round"``...); each line's label is the run's label,
    followed by ``" (eval)"`` for the evaluation loss.
    """
    Figure, FigureCanvasAgg = _matplotlib()
    if labels is None:
        from_files = not any(isinstance(h, History) for h in histories)
        labels = run_labels(histories) if from_files else [f"run {i + 1}" for i in range(len(histories))]
    histories = [h if isinstance(h, History) else load_history(h) for h in histories]
    if len(labels) != len(histories):
        raise ValueError(f"got {len(labels)} labels for {len(histories)} histories")
    data = [curves(h) for h in histories]
    rows = ["loss"] + (["accuracy"] if any("accuracy" in d for d in data) else [])
    figure = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(rows), len(X_AXES), squeeze=False)
    colors = [f"C{i % 10}" for i in range(len(histories))]
    for row, metric in enumerate(rows):
        for column, (xlabel, xname) in enumerate(X_AXES):
            ax = axes[row][column]
            for label, color, d in zip(labels, colors, data):
                if metric == "loss":
                    ax.plot(d["loss"][column], d["loss"][2], color=color, label=label)
                    if "eval_loss" in d:
                        ax.plot(d["eval_loss"][column], d["eval_loss"][2], color=color, linestyle="--",
                                marker="o", markersize=3, label=f"{label} (eval)")
                elif "accuracy" in d:
                    ax.plot(d["accuracy"][column], d["accuracy"][2], color=color, marker="o", markersize=3,
                            label=label)
            ax.set_title(f"{metric} against {xname}")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("eval accuracy" if metric == "accuracy" else "loss")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
    return figure


def plot_histories(paths, out=None, size=(1200, 800), dpi=100):
    """Draw the history files ``paths`` into the PNG ``out`` (default: the first file's name with ``.png``).

    Returns the path written.
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("no history file given")
    if out is None:
        out = os.path.splitext(paths[0])[0] + ".png"
    if not os.fspath(out).lower().endswith(".png"):
        raise ValueError(f"the output {out!r} must be a .png file")
    figure = history_figure(paths, size=size, dpi=dpi)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    figure.savefig(out, dpi=dpi, format="png")
    return out


def parse_size(text):
    """``"1200x800"`` -> ``(1200, 800)``, or an error naming the expected form."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r} is not WIDTHxHEIGHT in pixels, e.g. 1200x800") from None
    if width < 100 or height < 100:
        raise ValueError(f"size {text!r} is too small: at least 100x100 pixels")
    return width, height


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(f"plotting needs matplotlib ({e}): pip install matplotlib") from e
    return Figure, FigureCanvasAgg
