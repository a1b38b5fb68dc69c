"""What the driver does with each round a ``HybridTrainer`` gang reports: progress bar, log line, callback."""
import logging

log = logging.getLogger("sparktensor.dist")


def progress_bar(enabled, total, name):
    """A tqdm bar over ``total`` rounds, or None (not asked for, or tqdm missing)."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="round", desc=name, dynamic_ncols=True)


class RoundDelivery:
    """Hands each round's record, once and in order, to the progress bar, the log and ``callback``.

    Records may come twice (reported live, then again in the returned history; or repeated by a gang that
    restarted from its checkpoints): a round not newer than the last one delivered is skipped.
    """

    def __init__(self, callback=None, bar=None):
        self.callback, self.bar, self.last = callback, bar, 0

    def deliver(self, record):
        if record["round"] <= self.last:
            return
        self.last = record["round"]
        shown = {"loss": f"{record['loss']:.4f}", "samples/s": f"{record['samples_per_second']:.0f}"}
        if record.get("accuracy") is not None:
            shown["acc"] = f"{record['accuracy']:.4f}"
        if self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(record["round"] - self.bar.n)
        log.info("round %d: %s", record["round"], ", ".join(f"{k} {v}" for k, v in shown.items()))
        if self.callback is not None:
            self.callback(record)

    def close(self):
        if self.bar is not None:
            self.bar.close()
