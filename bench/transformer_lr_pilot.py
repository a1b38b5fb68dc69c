"""One pilot of the character Transformer's learning rate: the race's Transformer (``test_language_models``'s
``CONFIG``) trained alone for a fixed number of steps, linear warm-up then cosine decay over the steps, one
thread; prints the validation loss every 500 steps and at the end (the race's validation windows).

    python bench/transformer_lr_pilot.py '{"lr": 5e-3, "warmup": 200}' 2768

The first argument overrides ``CONFIG`` (and ``betas``, AdamW's); the second is the number of steps. These are
the pilots behind the example's defaults in ``bench/RESULTS.md``.
"""
import json
import math
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import sparktensor as st
import sparktensor.nn.functional as F
from sparktensor import nn, optim
from sparktensor.models import CharTransformer

import test_language_models as race
from test_language_models import charlm


def pilot(overrides, steps, seed=0):
    """Train and return the final validation loss (nats/char)."""
    cfg = dict(race.CONFIG, **overrides)
    vocab_size, train_ids, val_ids = race.corpus()
    st.manual_seed(seed)
    model = CharTransformer(vocab_size, d_model=cfg["d_model"], nhead=cfg["nhead"], layers=cfg["layers"],
                            max_len=cfg["seq_len"], dropout=cfg["dropout"])
    optimizer = optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                            betas=tuple(cfg.get("betas", (0.9, 0.999))))
    rng = np.random.default_rng(seed + 1)
    start = time.perf_counter()
    for step in range(steps):
        warmup = cfg["warmup"]
        factor = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in optimizer.param_groups:
            group["lr"] = cfg["lr"] * factor
        x, y = charlm.random_windows(train_ids, cfg["seq_len"], cfg["batch_size"], rng)
        loss = F.cross_entropy(model(st.tensor(x)), st.tensor(y))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if (step + 1) % 500 == 0 or step + 1 == steps:
            validation = charlm.validation_loss(race.LogitsFirst(model), val_ids)
            print(f"{json.dumps(overrides)} step {step + 1} {time.perf_counter() - start:.0f} s train "
                  f"{loss.item():.3f} validation {validation:.4f}", flush=True)
    return validation


if __name__ == "__main__":
    with threadpool_limits(1):
        st.set_num_threads(1)
        pilot(json.loads(sys.argv[1]), int(sys.argv[2]))
