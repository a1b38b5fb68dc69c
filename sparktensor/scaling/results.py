"""What the ``scaling`` fixture measured: one ``Measurement`` per K, grouped per test case and engine."""
import math
import statistics
from dataclasses import asdict, dataclass, field

from .sparknet import projection, sparknet_speedup


@dataclass
class Measurement:
    """One timed training run of K workers; ``speedup`` and ``efficiency`` are over the smallest K of its group
    (None until that one is measured)."""
    case: str
    engine: str
    workers: int
    tau: int
    batch_size: int
    samples: int
    seconds: float
    rounds: int
    compute_per_round: float
    communication_per_round: float
    steps_per_round: int
    speedup: float | None = None
    efficiency: float | None = None
    extra_info: dict | None = field(default=None, repr=False)  # pytest-benchmark's dict, kept up to date

    @property
    def samples_per_second(self):
        """Throughput: samples trained per second of the timed run."""
        return self.samples / self.seconds

    @property
    def compute_per_step(self):
        """C: the slowest worker's time per local step."""
        return self.compute_per_round / self.steps_per_round

    @property
    def sparknet(self):
        """SparkNet's best-case speed-up over one worker alone from this run's own C and S."""
        return sparknet_speedup(self.workers, self.tau, self.compute_per_step, self.communication_per_round)

    def figures(self):
        """The plain numbers, for JSON."""
        data = {k: v for k, v in asdict(self).items() if k not in ("extra_info",)}
        data.update(samples_per_second=self.samples_per_second, compute_per_step=self.compute_per_step,
                    sparknet_speedup=self.sparknet)
        return data


def measure_history(history, case, engine, workers, tau, batch_size, seconds):
    """A ``Measurement`` from a ``dist.History`` of a run that took ``seconds``."""
    records = list(history)
    if not records:
        raise ValueError(f"{case}: the run trained no rounds; give more data, epochs or rounds")
    samples = sum(r["samples"] for r in records)
    steps = statistics.median(math.ceil(r["samples"] / (workers * batch_size)) for r in records)
    return Measurement(case=case, engine=engine, workers=workers, tau=tau, batch_size=batch_size, samples=samples,
                       seconds=seconds, rounds=len(records),
                       compute_per_round=statistics.median(r["compute_seconds"] for r in records),
                       communication_per_round=statistics.median(r["communication_seconds"] for r in records),
                       steps_per_round=max(1, min(tau, int(steps))))


class Group:
    """The measurements of one case on one engine, one per K, and SparkNet's projection beyond them."""

    def __init__(self, case, engine, project_to=64):
        self.case, self.engine, self.project_to = case, engine, project_to
        self.measured = {}

    def add(self, measurement):
        """Keep ``measurement`` (replacing one of the same K) and refresh every member's speed-up."""
        self.measured[measurement.workers] = measurement
        base = self.base
        for m in self.measured.values():
            m.speedup = m.samples_per_second / base.samples_per_second
            m.efficiency = m.speedup * base.workers / m.workers
        figures = self.figures()
        for m in self.measured.values():
            if m.extra_info is not None:
                m.extra_info.update(m.figures(), speedup_base_workers=base.workers,
                                    sparknet_projection=figures["projection"])

    @property
    def base(self):
        """The measurement speed-ups are taken over: the smallest K."""
        return self.measured[min(self.measured)]

    @property
    def largest(self):
        """The measurement of the largest K: the projection starts from its C and S."""
        return self.measured[max(self.measured)]

    def projection(self):
        """``{K: (speed-up, samples/s)}`` for K = 2, 4, ... up to ``project_to`` beyond the measured K, from the
        C and S measured at the largest K (one worker alone steps ``batch_size / C`` samples a second)."""
        top = self.largest
        ks = [2 ** i for i in range(1, int(math.log2(max(1, self.project_to))) + 1) if 2 ** i > top.workers]
        speedups = projection(top.tau, top.compute_per_step, top.communication_per_round, top.workers, ks)
        alone = top.batch_size / top.compute_per_step
        return {k: (s, s * alone) for k, s in speedups.items()}

    def figures(self):
        """Everything as plain values, for pytest-benchmark's JSON."""
        return {"case": self.case, "engine": self.engine, "speedup_base_workers": self.base.workers,
                "measured": {str(k): m.figures() for k, m in sorted(self.measured.items())},
                "projection": {str(k): {"sparknet_speedup": s, "samples_per_second": t}
                               for k, (s, t) in self.projection().items()}}

    def table(self):
        """The figures as Markdown lines."""
        top = self.largest
        lines = [f"{self.case} on {self.engine}: tau {top.tau}, batch {top.batch_size}; speed-up and efficiency "
                 f"over K={self.base.workers}; SparkNet: best-case speed-up over one worker alone",
                 "| K | samples/s | speed-up | efficiency | C ms/step | S s/round | SparkNet speed-up |",
                 "|---|---|---|---|---|---|---|"]
        for k, m in sorted(self.measured.items()):
            lines.append(f"| {k} | {m.samples_per_second:.1f} | {m.speedup:.2f} | {m.efficiency:.0%} | "
                         f"{1e3 * m.compute_per_step:.2f} | {m.communication_per_round:.3f} | "
                         f"{m.sparknet:.2f} ({m.sparknet / k:.0%}) |")
        for k, (speedup, throughput) in self.projection().items():
            lines.append(f"| {k} (projected) | {throughput:.1f} | | | | | {speedup:.2f} ({speedup / k:.0%}) |")
        return lines
