"""The data-parallel trainers take what PyTorch code passes: a scheduler, models of several inputs, a DataLoader
or Dataset as data; a model that cannot be pickled gets an error naming the attribute."""
import threading

import numpy as np
import pytest
import torch

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from sparktensor.data import DataLoader, TensorDataset
from sparktensor.optim import lr_scheduler


class TwoInputs(nn.Module):
    """``model(x, tokens)``: a linear map of ``x`` plus the embedding of an integer token."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 3)
        self.embedding = nn.Embedding(5, 3)

    def forward(self, x, tokens):
        return self.linear(x) + self.embedding(tokens)


class TorchTwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 3)
        self.embedding = torch.nn.Embedding(5, 3)

    def forward(self, x, tokens):
        return self.linear(x) + self.embedding(tokens)


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    tokens = rng.integers(0, 5, n)
    y = ((x[:, 0] > 0).astype(np.int64) + (tokens > 2)).astype(np.int64)
    return x, tokens, y


def _twins():
    st.manual_seed(0)
    model = TwoInputs()
    theirs = TorchTwoInputs()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    return model, theirs


def _torch_reference(theirs, schedule, x, tokens, y, steps, batch_size, seed=0, per_step=True, tau=1):
    """One process, the batches the single worker of a trainer draws (dist.batch_indices), in PyTorch."""
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    scheduler = schedule(torch.optim.lr_scheduler, optimizer)
    for step in range(steps):
        rows = dist.batch_indices(seed, 0, step, len(y), batch_size)
        loss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x[rows]), torch.tensor(tokens[rows])),
                                                 torch.tensor(y[rows]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if per_step or (step + 1) % tau == 0:
            scheduler.step()
    return {k: v.detach().numpy() for k, v in theirs.state_dict().items()}, optimizer.param_groups[0]["lr"]


def _one_cycle(module, optimizer):
    return module.OneCycleLR(optimizer, max_lr=0.5, total_steps=40)


def _step_lr(module, optimizer):
    return module.StepLR(optimizer, step_size=2, gamma=0.5)


@pytest.mark.parametrize("scheduler_step,schedule,tau", [("step", _one_cycle, 4), ("round", _step_lr, 3)])
def test_scheduler_and_two_inputs_train_as_pytorch_does(scheduler_step, schedule, tau):
    x, tokens, y = _data()
    model, theirs = _twins()
    optimizer = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = schedule(lr_scheduler, optimizer)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=1, tau=tau, batch_size=16,
                                      engine=dist.LocalEngine(), progress=False, scheduler=scheduler,
                                      scheduler_step=scheduler_step)
    rounds = 8
    trainer.fit(dist.from_numpy((x, tokens), y), rounds=rounds)
    expected, lr = _torch_reference(theirs, schedule, x, tokens, y, rounds * tau, 16,
                                    per_step=scheduler_step == "step", tau=tau)
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(value.numpy(), expected[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(lr)
    assert len({round(g, 12) for g in [lr, 0.1]}) == 2  # the schedule did move the rate


def test_synchronous_sgd_steps_its_scheduler_every_step():
    x, tokens, y = _data()
    model, theirs = _twins()
    optimizer = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = dist.SynchronousSGD(model, F.cross_entropy, optimizer, workers=1, batch_size=16,
                                  engine=dist.LocalEngine(), progress=False,
                                  scheduler=_one_cycle(lr_scheduler, optimizer), scheduler_step="step")
    trainer.fit((( x, tokens), y), rounds=10)
    expected, lr = _torch_reference(theirs, _one_cycle, x, tokens, y, 10, 16)
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(value.numpy(), expected[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(lr)


def test_reduce_on_plateau_gets_each_rounds_eval_loss_and_resumes(tmp_path):
    x, tokens, y = _data()

    def run(rounds, resume=False, use_callback=False):
        model, _ = _twins()
        optimizer = st.optim.SGD(model.parameters(), lr=0.5)
        plateau = lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0, threshold=0.2)
        kwargs = {} if use_callback else {"scheduler": plateau}
        trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=2, tau=2, batch_size=16,
                                          engine=dist.LocalEngine(), progress=False, **kwargs)
        callback = (lambda record: plateau.step(record["eval_loss"])) if use_callback else None
        _, history = trainer.fit(((x, tokens), y), rounds=rounds, eval_data=((x, tokens), y), callback=callback,
                                 checkpoint_dir=None if use_callback else str(tmp_path), resume=resume)
        return model, optimizer.param_groups[0]["lr"], plateau

    by_callback, lr_callback, _ = run(6, use_callback=True)
    _, lr_at_3, _ = run(3)
    assert dist.latest_checkpoint(str(tmp_path))[1]["scheduler"]["last_epoch"] == 3
    resumed, lr, plateau = run(6, resume=True)  # the schedule's state comes back from the checkpoint
    assert lr == lr_callback < lr_at_3 < 0.5 and plateau.last_epoch == 6
    for key, value in resumed.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), by_callback.state_dict()[key].numpy())
    optimizer = st.optim.SGD(resumed.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="ReduceLROnPlateau needs a metric"):
        dist.ParameterAveraging(resumed, F.cross_entropy, optimizer,
                                scheduler=lr_scheduler.ReduceLROnPlateau(optimizer), scheduler_step="step")


def test_scheduler_of_another_optimizer_or_an_unknown_step_is_refused():
    model, _ = _twins()
    optimizer = st.optim.SGD(model.parameters(), lr=0.1)
    other = lr_scheduler.StepLR(st.optim.SGD(model.parameters(), lr=0.1), 2)
    with pytest.raises(ValueError, match="another optimizer"):
        dist.ParameterAveraging(model, F.cross_entropy, optimizer, scheduler=other)
    with pytest.raises(ValueError, match="scheduler_step"):
        dist.ParameterAveraging(model, F.cross_entropy, optimizer, scheduler_step="epoch")


def test_a_dataloader_or_dataset_trains_as_the_same_arrays():
    x, tokens, y = _data()

    def fit(data):
        model, _ = _twins()
        trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1),
                                          workers=2, tau=3, batch_size=16, engine=dist.LocalEngine(),
                                          progress=False)
        return trainer.fit(data, rounds=3)[0]

    def pairs(samples):  # a collate_fn that makes ((x, tokens), y) batches
        xs, ts, ys = zip(*samples)
        return (st.tensor(np.stack(xs)), st.tensor(np.array(ts))), st.tensor(np.array(ys))

    dataset = TensorDataset(st.tensor(x), st.tensor(tokens), st.tensor(y))
    reference = fit(((x, tokens), y))
    for data in (DataLoader(dataset, batch_size=7, collate_fn=pairs),
                 DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(tokens),
                                                           torch.tensor(y)), batch_size=50, collate_fn=pairs)):
        model = fit(data)
        for key, value in model.state_dict().items():
            np.testing.assert_array_equal(value.numpy(), reference.state_dict()[key].numpy())
    with pytest.raises(TypeError, match=r"\(x, y\) pairs"):
        fit(dataset)  # three fields per sample: not (x, y)


def test_a_dataset_of_one_input_ours_or_pytorchs_trains_as_from_numpy():
    x, _, y = _data()

    def fit(data):
        st.manual_seed(0)
        model = nn.Linear(6, 2)
        trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1),
                                          workers=2, tau=2, batch_size=8, engine=dist.LocalEngine(),
                                          progress=False)
        return trainer.fit(data, rounds=2)[0].weight.numpy()

    reference = fit((x, y % 2))
    theirs = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y % 2))
    for data in (TensorDataset(st.tensor(x), st.tensor(y % 2)), theirs,
                 torch.utils.data.DataLoader(theirs, batch_size=9)):
        np.testing.assert_array_equal(fit(data), reference)


def test_mismatched_inputs_are_named():
    x, tokens, y = _data()
    model, _ = _twins()
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1),
                                      engine=dist.LocalEngine(), progress=False)
    with pytest.raises(ValueError, match="eval_data one input"):
        trainer.fit(((x, tokens), y), rounds=1, eval_data=(x, y))
    lone = nn.Linear(6, 3)
    trainer = dist.ParameterAveraging(lone, F.cross_entropy, st.optim.SGD(lone.parameters(), lr=0.1),
                                      engine=dist.LocalEngine(), progress=False)
    with pytest.raises(ValueError, match=r"2 inputs of shapes \(6,\) \(float32\) and \(\) \(int64\)"):
        trainer.fit(((x, tokens), y), rounds=1)


class _Logged(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 3))
        self.body[0].lock = threading.Lock()  # what a user's logging or caching leaves on a layer

    def forward(self, x):
        return self.body(x)


def test_an_unpicklable_attribute_is_named_in_process():
    x, _, y = _data()
    model = _Logged()
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1),
                                      engine=dist.LocalEngine(), progress=False)
    with pytest.raises(TypeError, match=r"model\.body\.0\.lock \(a _thread\.lock\) cannot be pickled"):
        trainer.fit((x, y % 3), rounds=1)


def test_an_unpicklable_attribute_is_named_on_spark(spark_engine):
    x, _, y = _data()
    model = _Logged()
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1),
                                      engine=spark_engine, progress=False)
    with pytest.raises(TypeError, match=r"model\.body\.0\.lock \(a _thread\.lock\) cannot be pickled"):
        trainer.fit((x, y % 3), rounds=1)


def test_hybrid_trainer_takes_two_inputs_and_a_dataset():
    x, tokens, y = _data()
    model, theirs = _twins()
    trainer = dist.HybridTrainer(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                                 mesh=dist.Mesh(data=1, model=1), batch_size=16, engine=dist.LocalEngine(),
                                 progress=False)
    pairs = [((x[i], tokens[i]), y[i]) for i in range(len(y))]

    class Pairs(st.data.Dataset):
        def __len__(self):
            return len(pairs)

        def __getitem__(self, i):
            return pairs[i]

    _, history = trainer.fit(Pairs(), rounds=6, eval_data=((x, tokens), y))
    expected, _ = _torch_reference(theirs, lambda module, opt: module.LambdaLR(opt, lambda step: 1.0), x, tokens,
                                   y, 6, 16)
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(value.numpy(), expected[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert history.last["eval_loss"] is not None


@pytest.mark.parametrize("scheduler_step,schedule,tau", [("step", _one_cycle, 1), ("round", _step_lr, 3)])
def test_hybrid_trainer_follows_a_scheduler_as_pytorch_does(scheduler_step, schedule, tau):
    x, tokens, y = _data()
    model, theirs = _twins()
    optimizer = st.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = dist.HybridTrainer(model, F.cross_entropy, optimizer, mesh=dist.Mesh(data=1, model=1), tau=tau,
                                 batch_size=16, engine=dist.LocalEngine(), progress=False,
                                 scheduler=schedule(lr_scheduler, optimizer), scheduler_step=scheduler_step)
    rounds = 12 if tau == 1 else 4
    trainer.fit(((x, tokens), y), rounds=rounds)
    expected, lr = _torch_reference(theirs, schedule, x, tokens, y, rounds * tau, 16,
                                    per_step=scheduler_step == "step", tau=tau)
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(value.numpy(), expected[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert trainer.scheduler.get_last_lr()[0] == pytest.approx(lr)
    plateau = lr_scheduler.ReduceLROnPlateau(optimizer)
    with pytest.raises(ValueError, match="cannot take ReduceLROnPlateau"):
        dist.HybridTrainer(model, F.cross_entropy, optimizer, mesh=dist.Mesh(data=1, model=1),
                           engine=dist.LocalEngine(), progress=False, scheduler=plateau)


def test_a_float16_model_trains_with_adam_across_workers():
    x, _, _ = _data(240)
    st.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2)).to(st.float16)
    optimizer = st.optim.Adam(model.parameters(), lr=1e-2)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=2, tau=5, batch_size=16,
                                      engine=dist.LocalEngine(), progress=False)
    assert trainer._layout().dtype == np.dtype(np.float32).str  # Adam's float32 state is averaged in float32
    _, history = trainer.fit((x.astype(np.float16), (x[:, 0] > 0).astype(np.int64)), rounds=8)
    assert all(np.isfinite(history["loss"])) and history["loss"][-1] < 0.6 * history["loss"][0]
    assert all(p.dtype == np.float16 for p in model.parameters())
    assert all(s["exp_avg"].dtype == np.float32 for s in optimizer.state.values())


def test_two_dataframe_columns_are_two_inputs_kept_on_the_executors(spark, spark_engine):
    """``from_dataframe(df, features=("x", "tokens"))``: one model input per column (the integer column stays
    int64 for the embedding), converted and kept on the executors, re-cut there to 2 partitions; training gives
    the bits of the same arrays through ``from_numpy((x, tokens), y)`` on LocalEngine."""
    import pandas as pd
    x, tokens, y = _data()
    frame = spark.createDataFrame(pd.DataFrame({"x": list(x.astype(np.float64)), "tokens": tokens, "label": y}))
    data = dist.from_dataframe(frame.coalesce(3), features=("x", "tokens"), label="label", partitions=2)
    try:
        assert data.input_spec == (("<f4", (6,)), ("<i8", ()))
        held = data.to_blocks()
        assert held.input_spec == data.input_spec
        head_x, head_tokens = data.head[0]
        assert head_x.dtype == np.float32 and head_tokens.dtype == np.int64
        weights = {}
        for engine, source in ((spark_engine, data), (dist.LocalEngine(), dist.from_numpy((x, tokens), y,
                                                                                          partitions=data.counts))):
            model, _ = _twins()
            trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1),
                                              workers=2, tau=3, batch_size=16, engine=engine, progress=False)
            trainer.fit(source, rounds=4, eval_data=source)
            weights[type(engine).__name__] = {k: v.numpy().copy() for k, v in model.state_dict().items()}
        for key, value in weights["LocalEngine"].items():
            np.testing.assert_array_equal(weights["SparkEngine"][key], value, err_msg=key)
    finally:
        data.release()
    with pytest.raises(ValueError, match=r"feature_shape gives 1 shapes for the 2 inputs \['x', 'tokens'\]"):
        dist.from_dataframe(frame, features=("x", "tokens"), label="label", feature_shape=((2, 3),))
