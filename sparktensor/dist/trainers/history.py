"""``History``: what each round of training did (loss, accuracy, time split into compute and communication)."""
import json
import os

from ...files import write_atomically


class History:
    """One record (a dict of plain values) per round; ``history["loss"]`` lists one key over the rounds.

    Keys of a record: ``round`` (from 1), ``epoch`` (passes over the largest partition), ``loss`` (mean training
    loss of the round's local steps), ``samples``, ``seconds`` (wall time), ``compute_seconds`` (the slowest
    worker's local steps), ``communication_seconds`` (the rest: broadcast, scheduling, aggregation),
    ``samples_per_second``; with evaluation data also ``eval_loss`` and ``accuracy`` (None for non-class
    labels) on the rounds that were evaluated.
    """

    def __init__(self, records=()):
        self.records = [dict(r) for r in records]

    def append(self, record):
        self.records.append(dict(record))

    def __len__(self):
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, key):
        if isinstance(key, str):
            return [r.get(key) for r in self.records]
        return self.records[key]

    @property
    def last(self):
        """The latest record (an empty dict before the first round)."""
        return self.records[-1] if self.records else {}

    def to_json(self, path=None):
        """The records as a JSON string; with ``path``, also written there: whole or not at all, through a
        temporary file of a random name made exclusively beside it (``files.write_atomically``)."""
        text = json.dumps(self.records, indent=1)
        if path is not None:
            write_atomically(path, text)
        return text

    @classmethod
    def from_json(cls, text_or_path):
        """A History from ``to_json``'s string or file."""
        text = text_or_path
        if os.path.exists(str(text_or_path)):
            with open(text_or_path) as f:
                text = f.read()
        return cls(json.loads(text))

    def __repr__(self):
        last = self.last
        summary = ", ".join(f"{k}={last[k]:.4g}" for k in ("loss", "accuracy") if last.get(k) is not None)
        return f"History({len(self)} rounds{': ' + summary if summary else ''})"
