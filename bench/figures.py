"""``bench/figures.json``: the scaling figures the benchmarks measured, kept for ``bench/plot.py``.

Each benchmark merges its numbers under a section name (``save_figures("tau_sweep", {"10": {...}})``), so a
run of one benchmark file updates its own sections and leaves the others as they were.
"""
import json
import os
import pathlib
import tempfile

FIGURES = pathlib.Path(__file__).resolve().parent / "figures.json"


def load_figures(path=FIGURES):
    """All sections measured so far (empty when none)."""
    try:
        return json.loads(pathlib.Path(path).read_text())
    except FileNotFoundError:
        return {}


def save_figures(section, values, path=FIGURES):
    """Merge ``values`` (a dict) into ``section`` and write the file atomically."""
    figures = load_figures(path)
    figures.setdefault(section, {}).update(values)
    fd, tmp = tempfile.mkstemp(dir=pathlib.Path(path).parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(figures, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
