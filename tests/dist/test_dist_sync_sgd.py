"""SynchronousSGD: K workers at batch b/K train exactly as one process at batch b."""
import numpy as np

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn.functional as F
from dist_helpers import digits, mlp


def test_workers_equal_one_process_at_the_global_batch(engine):
    x, y = digits()
    x, y = x[:600].astype(np.float64), y[:600]
    workers, local_batch, steps, seed = 2, 16, 20, 3

    model = mlp(dtype="float64")
    optimizer = st.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    trainer = dist.SynchronousSGD(model, F.cross_entropy, optimizer, workers=workers, batch_size=local_batch,
                                  seed=seed, engine=engine, progress=False)
    _, history = trainer.fit(dist.from_numpy(x, y, partitions=workers), rounds=steps)

    reference = mlp(dtype="float64")
    reference_optimizer = st.optim.Adam(reference.parameters(), lr=1e-2, weight_decay=1e-3)
    blocks = dist.from_numpy(x, y, partitions=workers).blocks
    samples = []
    for step in range(steps):
        rows = [dist.batch_indices(seed, k, step, len(bx), local_batch) for k, (bx, _) in enumerate(blocks)]
        batch_x = np.concatenate([bx[r] for (bx, _), r in zip(blocks, rows)])
        batch_y = np.concatenate([by[r] for (_, by), r in zip(blocks, rows)])
        samples.append(len(batch_y))  # 2 x 16, but 2 x 12 where an epoch of 300 samples ends
        reference_optimizer.zero_grad()
        F.cross_entropy(reference(st.tensor(batch_x)), st.tensor(batch_y)).backward()
        reference_optimizer.step()

    assert history["samples"] == samples and samples[18] == 24
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=0, atol=1e-10)
    assert np.abs(model[0].weight.numpy() - mlp(dtype="float64")[0].weight.numpy()).max() > 1e-3
