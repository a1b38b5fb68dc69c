"""HybridTrainer: a D x M mesh trains as one process would, averages as SparkNet does, survives a dead rank,
evaluates on the ranks, and reports each round to the driver while it trains."""
import os
import threading

import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from sparktensor.dist import batch_indices

STEPS = 20


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 8))
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int64) + (x[:, 3] > 1)
    return x, y


def _model(seed=0):
    st.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3)).double()


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _hybrid(mesh, rounds=STEPS, sync="gradients", tau=None, optimizer=st.optim.Adam, engine=None, crash=None,
            gang=None, **fit):
    model = _model()
    trainer = dist.HybridTrainer(model, F.cross_entropy, optimizer(model.parameters(), lr=0.01), mesh=mesh,
                                 sync=sync, tau=tau, batch_size=8, seed=3, engine=engine or dist.LocalEngine(),
                                 gang=gang)
    trainer._crash = crash
    x, y = _data()
    model, history = trainer.fit(dist.from_numpy(x, y, partitions=mesh.data), rounds=rounds, **fit)
    return model, trainer.optimizer, history


def _single_process(replicas, steps=STEPS):
    """Adam on one process, each step on the replicas' batches joined: the global batch of a D-replica mesh."""
    x, y = _data()
    blocks = np.array_split(np.arange(len(x)), replicas)
    model = _model()
    optimizer = st.optim.Adam(model.parameters(), lr=0.01)
    for step in range(steps):
        rows = np.concatenate([block[batch_indices(3, d, step, len(block), 8)] for d, block in enumerate(blocks)])
        optimizer.zero_grad()
        F.cross_entropy(model(st.tensor(x[rows])), st.tensor(y[rows])).backward()
        optimizer.step()
    return model, optimizer


def _eval_data():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((41, 8))
    y = (x[:, :3].sum(axis=1) > 0).astype(np.int64) + (x[:, 3] > 1)
    return x, y


def _evaluate(model, x, y):
    """``(mean loss, accuracy)`` of an ordinary model in this process."""
    with st.no_grad():
        out = model(st.tensor(x))
    return float(F.cross_entropy(out, st.tensor(y)).item()), float((out.numpy().argmax(axis=1) == y).mean())


def _assert_same_weights(a, b, atol=1e-9):
    assert list(a) == list(b)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=atol, err_msg=key)


@pytest.mark.parametrize("data, model", [(2, 2), (1, 2), (2, 1)])
def test_mesh_training_equals_one_process_at_the_global_batch(data, model):
    trained, optimizer, history = _hybrid(dist.Mesh(data=data, model=model))
    expected, expected_optimizer = _single_process(data)
    _assert_same_weights(_weights(trained), _weights(expected))
    # the optimizer state comes back whole into the ordinary optimizer
    for p, q in zip(optimizer.param_groups[0]["params"], expected_optimizer.param_groups[0]["params"]):
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(optimizer.state[p][key].numpy(), expected_optimizer.state[q][key].numpy(),
                                       rtol=0, atol=1e-9)
        assert float(optimizer.state[p]["step"].item()) == STEPS
    assert history["round"] == list(range(1, STEPS + 1))
    sizes = [len(block) for block in np.array_split(np.arange(len(_data()[0])), data)]
    assert history["samples"] == [sum(len(batch_indices(3, d, step, n, 8)) for d, n in enumerate(sizes))
                                  for step in range(STEPS)]  # 45 samples a replica: every 6th batch is 5
    assert history["loss"][-1] < history["loss"][0]


def test_ranks_as_processes_over_sockets_train_the_same():
    trained, _, _ = _hybrid(dist.Mesh(data=2, model=2), rounds=6, gang={"mode": "processes"})
    expected, _ = _single_process(2, steps=6)
    _assert_same_weights(_weights(trained), _weights(expected))


def test_averaging_every_tau_steps_equals_parameter_averaging():
    trained, _, history = _hybrid(dist.Mesh(data=2, model=2), rounds=4, sync="average", tau=3)
    model = _model()
    reference = dist.ParameterAveraging(model, F.cross_entropy, st.optim.Adam(model.parameters(), lr=0.01),
                                        workers=2, tau=3, batch_size=8, seed=3, engine=dist.LocalEngine(),
                                        progress=False)
    x, y = _data()
    expected, expected_history = reference.fit(dist.from_numpy(x, y, partitions=2), rounds=4)
    _assert_same_weights(_weights(trained), _weights(expected))
    np.testing.assert_allclose(history["loss"], expected_history["loss"], rtol=1e-9)


def test_a_killed_rank_restarts_the_gang_which_resumes_from_its_checkpoints(tmp_path, caplog):
    expected, _, expected_history = _hybrid(dist.Mesh(data=2, model=2), rounds=8)
    with caplog.at_level("WARNING", logger="sparktensor.dist"):
        trained, _, history = _hybrid(dist.Mesh(data=2, model=2), rounds=8, crash=(5, 3),
                                      checkpoint_dir=str(tmp_path), checkpoint_every=2)
    assert "rank 3 killed in round 6" in caplog.text and "starting it again" in caplog.text
    _assert_same_weights(_weights(trained), _weights(expected), atol=0)
    assert history["round"] == list(range(1, 9))
    assert history["loss"] == pytest.approx(expected_history["loss"], rel=1e-12)
    ranks = sorted(os.listdir(tmp_path))
    assert ranks == ["rank-00000", "rank-00001", "rank-00002", "rank-00003"]
    for rank in ranks:
        assert sorted(os.listdir(tmp_path / rank)) == ["round-000006.safetensors", "round-000008.safetensors"]


def test_resume_continues_an_earlier_run_from_the_round_every_rank_has(tmp_path):
    expected, _, _ = _hybrid(dist.Mesh(data=1, model=2), rounds=7)
    _hybrid(dist.Mesh(data=1, model=2), rounds=5, checkpoint_dir=str(tmp_path))
    os.remove(tmp_path / "rank-00001" / "round-000005.safetensors")  # as if rank 1 died while writing it
    trained, _, history = _hybrid(dist.Mesh(data=1, model=2), rounds=7, checkpoint_dir=str(tmp_path), resume=True)
    _assert_same_weights(_weights(trained), _weights(expected), atol=0)
    assert history["round"] == list(range(1, 8))
    with pytest.raises(ValueError, match="cannot resume: the checkpoints had other settings .*sync: checkpoint "
                                         "'gradients', now 'average'"):
        _hybrid(dist.Mesh(data=1, model=2), rounds=9, sync="average", tau=1, checkpoint_dir=str(tmp_path),
                resume=True)


@pytest.mark.parametrize("before, after", [(2, 1), (1, 2), (2, 3)])
def test_resume_on_a_mesh_of_another_model_width(tmp_path, before, after):
    """Checkpoints of a 1 x M run continue on 1 x M': each new rank reads its piece of the weights and of Adam's
    state from the M files, the rounds and history go on, and the old rank folders move aside."""
    expected, _, expected_history = _hybrid(dist.Mesh(data=1, model=before), rounds=7)
    _hybrid(dist.Mesh(data=1, model=before), rounds=4, checkpoint_dir=str(tmp_path))
    trained, _, history = _hybrid(dist.Mesh(data=1, model=after), rounds=7, checkpoint_dir=str(tmp_path),
                                  resume=True)
    _assert_same_weights(_weights(trained), _weights(expected), atol=1e-12)
    assert history["round"] == list(range(1, 8))
    np.testing.assert_allclose(history["loss"], expected_history["loss"], rtol=1e-10)
    ranks = sorted(name for name in os.listdir(tmp_path) if name.startswith("rank-"))
    assert ranks == [f"rank-{r:05d}" for r in range(after)]
    for rank in ranks:  # the new mesh's own checkpoints only
        assert sorted(os.listdir(tmp_path / rank)) == ["round-000006.safetensors", "round-000007.safetensors"]
    (aside,) = [name for name in os.listdir(tmp_path) if name.startswith("previous-")]
    assert sorted(os.listdir(tmp_path / aside)) == [f"rank-{r:05d}" for r in range(before)]


def test_resume_on_another_mesh_keeps_the_replicas_and_needs_a_round_of_every_rank(tmp_path):
    _hybrid(dist.Mesh(data=1, model=2), rounds=3, checkpoint_dir=str(tmp_path / "a"))
    with pytest.raises(ValueError, match=r"cannot resume the checkpoints of a 1 x 2 mesh on a 2 x 1 mesh: the "
                                         r"model width may change, the number of replicas"):
        _hybrid(dist.Mesh(data=2, model=1), rounds=5, checkpoint_dir=str(tmp_path / "a"), resume=True)
    _hybrid(dist.Mesh(data=1, model=2), rounds=3, checkpoint_dir=str(tmp_path / "b"), checkpoint_every=3)
    os.remove(tmp_path / "b" / "rank-00001" / "round-000003.safetensors")
    with pytest.raises(ValueError, match="no round has a checkpoint from every one of the 2 model ranks"):
        _hybrid(dist.Mesh(data=1, model=1), rounds=5, checkpoint_dir=str(tmp_path / "b"), resume=True)
    assert sorted(os.listdir(tmp_path / "b")) == ["rank-00000", "rank-00001"]  # nothing moved


def test_bad_settings_and_data_are_named():
    model = _model()
    optimizer = st.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="sync must be one of"):
        dist.HybridTrainer(model, F.cross_entropy, optimizer, sync="sometimes")
    with pytest.raises(ValueError, match="not the model's"):
        dist.HybridTrainer(_model(), F.cross_entropy, optimizer)
    trainer = dist.HybridTrainer(model, F.cross_entropy, optimizer, mesh=dist.Mesh(2, 2), engine=dist.LocalEngine())
    x, y = _data()
    with pytest.raises(ValueError, match=r"cannot take the data's samples, of shape \(5,\)"):
        trainer.fit((x[:, :5], y), rounds=1)
    with pytest.raises(ValueError, match="every one of the 2 replicas needs samples"):
        trainer.fit((x[:1], y[:1]), rounds=1)
    with pytest.raises(TypeError, match="cannot launch a gang"):
        dist.HybridTrainer(model, F.cross_entropy, optimizer, engine=object()).fit((x, y), rounds=1)


def test_eval_data_gives_the_loss_and_accuracy_of_the_model_at_each_evaluated_round():
    x, y = _eval_data()
    trained, _, history = _hybrid(dist.Mesh(data=2, model=2), rounds=6, eval_data=(x, y), eval_every=4)
    evaluated = [record for record in history if "accuracy" in record]
    assert [record["round"] for record in evaluated] == [4, 6]  # every 4th round, and the last
    for record in evaluated:  # the same as the one-process model after as many steps
        expected, _ = _single_process(2, steps=record["round"])
        loss, accuracy = _evaluate(expected, x, y)
        assert record["eval_loss"] == pytest.approx(loss, rel=1e-9)
        assert record["accuracy"] == accuracy
    # the last is the evaluation of the model fit returned (joined from the ranks' shares)
    assert [history[-1]["eval_loss"], history[-1]["accuracy"]] == pytest.approx(_evaluate(trained, x, y), rel=1e-9)


def test_callback_gets_each_round_on_the_calling_thread_while_the_gang_trains():
    seen = []

    def callback(record):
        seen.append(dict(record, main_thread=threading.current_thread() is threading.main_thread()))

    _, _, history = _hybrid(dist.Mesh(data=2, model=2), rounds=5, callback=callback)
    assert seen == [dict(record, main_thread=True) for record in history]
    # during the gang, not after it: a gang that fails in round 4 (rank 0, which reports) has reported 1 to 3
    seen.clear()
    with pytest.raises(RuntimeError, match="rank 0 killed in round 4"):
        _hybrid(dist.Mesh(data=2, model=2), rounds=5, crash=(3, 0), callback=callback)
    assert [record["round"] for record in seen] == [1, 2, 3]


def test_an_exception_in_the_callback_stops_the_callbacks_and_is_raised_when_the_gang_is_done(capsys):
    rounds = []

    def callback(record):
        rounds.append(record["round"])
        if record["round"] == 2:
            raise KeyError("enough")

    with pytest.raises(KeyError, match="enough"):
        _hybrid(dist.Mesh(data=1, model=2), rounds=4, callback=callback)
    assert rounds == [1, 2]
    _hybrid(dist.Mesh(data=1, model=2), rounds=4)  # the progress bar follows the rounds
    assert "HybridTrainer: 100%" in capsys.readouterr().err


def test_on_spark_a_mesh_trains_as_in_one_process_and_a_lost_rank_is_relaunched(spark_engine, tmp_path, caplog):
    # local[2] has two task slots: a 1 x 2 mesh; rank 1's Python worker exits in round 4
    rounds = []
    x, y = _eval_data()
    with caplog.at_level("WARNING", logger="sparktensor.dist"):
        trained, _, history = _hybrid(dist.Mesh(data=1, model=2), rounds=6, engine=spark_engine,
                                      crash=(3, 1), checkpoint_dir=str(tmp_path), checkpoint_every=2,
                                      eval_data=(x, y), eval_every=3, callback=lambda r: rounds.append(r["round"]))
    assert "starting it again" in caplog.text
    expected, _ = _single_process(1, steps=6)
    _assert_same_weights(_weights(trained), _weights(expected))
    assert history["round"] == list(range(1, 7))
    assert rounds == list(range(1, 7))  # each once, though the relaunched gang repeated rounds 3 and 4
    assert [history[-1]["eval_loss"], history[-1]["accuracy"]] == pytest.approx(_evaluate(trained, x, y), rel=1e-9)
    assert sorted(os.listdir(tmp_path)) == ["rank-00000", "rank-00001"]
