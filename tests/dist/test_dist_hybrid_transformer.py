"""HybridTrainer on Transformers: a D x M mesh with heads and feed-forward blocks split over the M ranks trains
the zoo's CharTransformer, and a post-norm TransformerEncoder classifier, as one process would at the global batch."""
import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from sparktensor.dist import batch_indices
from sparktensor.dist.comm import run_threads
from sparktensor.dist.sharding import split_parameters
from sparktensor.models import CharTransformer

STEPS = 6
BATCH = 4


def _char_data():
    ids = np.random.default_rng(0).integers(0, 11, (40, 9))
    return ids[:, :-1], ids[:, 1:]


def _char_model():
    st.manual_seed(5)
    return CharTransformer(11, d_model=16, nhead=4, layers=2, max_len=8, dropout=0.0).double()


class _EncoderClassifier(nn.Module):
    """Post-norm ReLU encoder layers over (N, L, 12) features, mean over positions, a linear read-out."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(12, 4, 20, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(12, 3)

    def forward(self, x):
        return self.head(self.encoder(x).mean(dim=1))


def _encoder_data():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((36, 5, 12))
    return x, (x[:, :, :3].sum(axis=(1, 2)) > 0).astype(np.int64) + (x[:, 0, 3] > 1)


def _encoder_model():
    st.manual_seed(6)
    return _EncoderClassifier().double()


def _hybrid(make_model, data, mesh, gang=None, **fit):
    model = make_model()
    trainer = dist.HybridTrainer(model, F.cross_entropy, st.optim.Adam(model.parameters(), lr=0.01), mesh=mesh,
                                 batch_size=BATCH, seed=3, engine=dist.LocalEngine(), progress=False, gang=gang)
    x, y = data
    model, history = trainer.fit(dist.from_numpy(x, y, partitions=mesh.data), rounds=STEPS, **fit)
    return model, trainer.optimizer, history


def _single_process(make_model, data, replicas):
    """Adam in this process, each step on the replicas' batches joined: the global batch of a D-replica mesh."""
    x, y = data
    blocks = np.array_split(np.arange(len(x)), replicas)
    model = make_model()
    optimizer = st.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for step in range(STEPS):
        rows = np.concatenate([block[batch_indices(3, d, step, len(block), BATCH)] for d, block in enumerate(blocks)])
        optimizer.zero_grad()
        loss = F.cross_entropy(model(st.tensor(x[rows])), st.tensor(y[rows]))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, optimizer, losses


def _assert_same_training(trained, optimizer, expected, expected_optimizer):
    got, want = trained.state_dict(), expected.state_dict()
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_allclose(got[key].numpy(), want[key].numpy(), rtol=0, atol=1e-10, err_msg=key)
    for p, q in zip(optimizer.param_groups[0]["params"], expected_optimizer.param_groups[0]["params"]):
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(optimizer.state[p][key].numpy(), expected_optimizer.state[q][key].numpy(),
                                       rtol=0, atol=1e-10)


@pytest.mark.parametrize("data, model", [(2, 2), (1, 2)])
def test_char_transformer_on_a_mesh_trains_as_one_process(data, model):
    trained, optimizer, history = _hybrid(_char_model, _char_data(), dist.Mesh(data=data, model=model))
    expected, expected_optimizer, losses = _single_process(_char_model, _char_data(), data)
    _assert_same_training(trained, optimizer, expected, expected_optimizer)
    assert type(trained) is CharTransformer
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-10)


def test_ranks_as_processes_over_sockets_train_the_same():
    trained, optimizer, _ = _hybrid(_char_model, _char_data(), dist.Mesh(data=2, model=2), gang={"mode": "processes"})
    expected, expected_optimizer, _ = _single_process(_char_model, _char_data(), 2)
    _assert_same_training(trained, optimizer, expected, expected_optimizer)


def test_post_norm_encoder_classifier_on_a_2x2_mesh_trains_as_one_process():
    split = run_threads(lambda comm, model: set(split_parameters(dist.shard(model, comm))), 2, _encoder_model())[0]
    assert {"encoder.layers.1.self_attn.in_proj_weight", "encoder.layers.1.linear2.weight"} <= split  # heads, FFN
    trained, optimizer, _ = _hybrid(_encoder_model, _encoder_data(), dist.Mesh(data=2, model=2))
    expected, expected_optimizer, _ = _single_process(_encoder_model, _encoder_data(), 2)
    _assert_same_training(trained, optimizer, expected, expected_optimizer)


def test_evaluation_on_the_ranks_equals_the_returned_model_on_the_driver():
    x, y = _char_data()
    eval_x, eval_y = np.random.default_rng(4).integers(0, 11, (2, 10, 8))
    trained, _, history = _hybrid(_char_model, (x, y), dist.Mesh(data=2, model=2), eval_data=(eval_x, eval_y),
                                  eval_every=STEPS)
    with st.no_grad():
        logits = trained(st.tensor(eval_x))
    assert history.last["eval_loss"] == pytest.approx(F.cross_entropy(logits, st.tensor(eval_y)).item(), rel=1e-10)
    assert history.last["accuracy"] == pytest.approx((logits.numpy().argmax(axis=1) == eval_y).mean(), rel=1e-12)
