"""How long an estimator trains: a budget of local steps (``maxIter``) or of passes (``epochs``), and ``tol``.

A budget in steps trains a small table to convergence as it trains a large one: 75 rows per worker at
``batchSize`` 32 are 3 steps an epoch, so 10 epochs would be 30 steps, while ``maxIter`` 500 steps are the
same on 75 rows and on 75 million. The steps run in rounds of ``tau`` (one averaging, one Spark job each).

``tol`` ends training early in mode ``"data"``: once the training loss of ``PATIENCE`` rounds in a row has
not improved on the best round's by more than ``tol`` times that best, the loss has stopped falling beyond
the noise of its mini-batches, and the weights of the last round are kept.
"""
import math

from ..dist.trainers.history import History

PATIENCE = 3


class Converged(Exception):
    """Raised by ``LossPlateau`` after a round, to end the trainer's ``fit`` early."""


class LossPlateau:
    """A trainer ``callback``: keeps each round's record in ``history`` and raises ``Converged`` once the training
    loss has gone ``patience`` rounds without improving on its best by more than ``tol`` (relative)."""

    def __init__(self, tol, patience=PATIENCE):
        if not tol >= 0:
            raise ValueError(f"tol must be >= 0, got {tol!r}")
        self.tol, self.patience = float(tol), int(patience)
        self.history = History()
        self.best, self.stale = None, 0

    def __call__(self, record):
        self.history.append(record)
        loss = record["loss"]
        if self.best is None or loss < self.best - self.tol * abs(self.best):
            self.best, self.stale = loss, 0
        else:
            self.stale += 1
        if self.tol > 0 and self.stale >= self.patience:
            raise Converged(f"round {record['round']}: the training loss has not improved by more than "
                            f"tol={self.tol:g} of its best ({self.best:.4g}) in {self.stale} rounds")


def local_steps(max_iter, tau):
    """``(tau, rounds)`` for a budget of ``max_iter`` local steps: ``tau`` no larger than the budget, and enough
    rounds of it to cover the budget (the last round may go up to ``tau - 1`` steps over)."""
    tau = min(int(tau), int(max_iter))
    return tau, math.ceil(int(max_iter) / tau)


def train(trainer, data, rounds=None, epochs=None, tol=0.0, can_stop=True):
    """``trainer.fit`` for ``rounds`` (or ``epochs``), ended early by ``LossPlateau(tol)`` when ``can_stop``
    (a trainer whose ``callback`` can stop it) and ``tol`` > 0; returns ``(model, history)``."""
    if not can_stop or tol == 0:
        return trainer.fit(data, rounds=rounds, epochs=epochs)
    plateau = LossPlateau(tol)
    try:
        return trainer.fit(data, rounds=rounds, epochs=epochs, callback=plateau)
    except Converged:
        return trainer.model, plateau.history
