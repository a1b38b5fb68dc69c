"""UCR/UEA time series classification sets: the sktime ``.ts`` format, read from the sktime wheel."""
import pathlib
import zipfile
from typing import NamedTuple, Optional

import numpy as np

from ._missing import find_download

SPEC = "sktime==1.2.0"
WHEEL = "sktime-1.2.0-*.whl"
MEMBER = "sktime/datasets/data/{name}/{name}_{split}.ts"
BOOLEAN_TAGS = ("timestamps", "missing", "univariate", "equallength")


class TimeSeries(NamedTuple):
    """Series padded to (N, T_max, channels) float32, their lengths, labels, and the class names."""

    series: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray  # int64 indices into ``classes``; float32 targets for regression sets
    classes: Optional[tuple]  # None for regression sets (``@targetLabel``)


def _header(tags, line, where):
    """Record one ``@tag value`` header line in ``tags``."""
    key, _, value = line[1:].partition(" ")
    key, words = key.lower(), value.split()
    if key in BOOLEAN_TAGS:
        tags[key] = bool(words) and words[0].lower() == "true"
    elif key in ("dimensions", "serieslength"):
        tags[key] = int(words[0])
    elif key in ("classlabel", "targetlabel"):
        tags[key] = bool(words) and words[0].lower() == "true"
        if key == "classlabel" and tags[key]:
            tags["classes"] = tuple(words[1:])
    elif key == "problemname":
        tags.setdefault(key, value.strip())
    if tags.get("timestamps"):
        raise ValueError(f"{where}: @timeStamps true is not supported; only plain comma-separated values are read")


def _sample(line, tags, labelled, pad_value, where):
    """The (T, channels) values of one data line and its label text (``None`` when unlabelled)."""
    fields = line.split(":")
    label = fields.pop().strip() if labelled else None
    channels = tags.get("dimensions", 1 if tags.get("univariate") else len(fields))
    if len(fields) != channels:
        raise ValueError(f"{where}: {len(fields)} dimensions, the header says {channels}")
    try:
        dims = [np.array(f.replace("?", "nan").split(","), dtype=np.float64) for f in fields]
    except ValueError as e:
        raise ValueError(f"{where}: values must be numbers separated by ',' ({e})") from e
    values = np.full((max(len(d) for d in dims), channels), pad_value)
    for c, d in enumerate(dims):
        values[:len(d), c] = d
    return values, label


def parse_ts(text, source="<string>", pad_value=0.0):
    """A ``TimeSeries`` from the text of a ``.ts`` file; ``source`` names the file in errors."""
    tags, rows, labels = {}, [], []
    lines = enumerate(text.splitlines(), start=1)
    for number, line in lines:
        line = line.strip()
        if line.lower() == "@data":
            break
        if line.startswith("@"):
            _header(tags, line, f"{source}:{number}")
    else:
        raise ValueError(f"{source}: no @data line; is it a .ts file?")
    labelled = tags.get("classlabel", False) or tags.get("targetlabel", False)
    for number, line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            values, label = _sample(line, tags, labelled, pad_value, f"{source}:{number}")
            rows.append(values)
            labels.append(label)
    if not rows:
        raise ValueError(f"{source}: no series after @data")
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    expected = tags.get("serieslength") if tags.get("equallength") else None
    if expected is not None and (lengths != expected).any():
        bad = int(np.argmax(lengths != expected))
        raise ValueError(f"{source}: @seriesLength {expected} but series {bad} has length {int(lengths[bad])}")
    series = np.full((len(rows), int(lengths.max()), rows[0].shape[1]), pad_value, dtype=np.float32)
    for i, values in enumerate(rows):
        series[i, :len(values)] = values
    return TimeSeries(series, lengths, *_labels(labels, tags, source))


def _labels(labels, tags, source):
    """The label array and class names: class indices in header order, or float targets."""
    if tags.get("classlabel"):
        classes = tags.get("classes", ())
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise ValueError(f"{source}: labels {unknown} are not among the @classLabel classes {list(classes)}")
        return np.array([index[label] for label in labels], dtype=np.int64), classes
    if tags.get("targetlabel"):
        return np.array(labels, dtype=np.float32), None
    return np.full(len(labels), -1, dtype=np.int64), None


def read_ts(path, pad_value=0.0):
    """A ``TimeSeries`` from a ``.ts`` file on disk."""
    path = pathlib.Path(path)
    return parse_ts(path.read_text(encoding="utf-8"), str(path), pad_value)


def load_ucr(name, split="train", root=None, pad_value=0.0):
    """One split of a UCR/UEA set (e.g. ``"JapaneseVowels"``, ``"GunPoint"``) as a ``TimeSeries``.

    Series shorter than the longest are padded with ``pad_value`` after their end; ``lengths`` says where
    each ends. ``root`` is a directory holding ``<name>/<name>_TRAIN.ts`` files (the UEA archive layout) or the
    ``sktime-1.2.0`` wheel (default ``sparktensor.data.data_dir()``), or the wheel itself; it is read with
    ``zipfile``, never installed.
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_ucr: split must be 'train' or 'test', got {split!r}")
    member = MEMBER.format(name=name, split=split.upper())
    if root is not None and (pathlib.Path(root) / name).is_dir():
        return read_ts(pathlib.Path(root) / name / pathlib.Path(member).name, pad_value)
    wheel = find_download(root, WHEEL, SPEC)
    with zipfile.ZipFile(wheel) as archive:
        if member not in archive.namelist():
            known = sorted({n.split("/")[3] for n in archive.namelist() if n.startswith("sktime/datasets/data/")
                            and n.endswith(".ts")})
            raise ValueError(f"{wheel} has no {member}; the data sets it holds: {', '.join(known)}")
        text = archive.read(member).decode("utf-8")
    return parse_ts(text, f"{wheel}!{member}", pad_value)
