"""ParameterAveraging: it trains, it averages by samples, the optimizer-state choice, the model reaches executors."""
import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from dist_helpers import digits, mlp, train_digits, weights


def _accuracy(model, x, y):
    with st.no_grad():
        return float((model(st.tensor(x)).numpy().argmax(axis=1) == y).mean())


def test_trains_digits_and_records_history(engine):
    x, y = digits()
    model, _, history = train_digits(engine, rounds=12, tau=5, eval_data=(x[1500:], y[1500:]), eval_every=4)
    assert len(history) == 12 and history["round"] == list(range(1, 13))
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert [r for r in history["round"] if history[r - 1].get("accuracy") is not None] == [4, 8, 12]
    assert history.last["accuracy"] >= 0.9
    assert history.last["accuracy"] == pytest.approx(_accuracy(model, x[1500:], y[1500:]))
    assert history.last["eval_loss"] < 0.5
    for record in history:
        assert 0 < record["samples"] <= 2 * 5 * 32  # fewer where a partition's epoch ends mid-round
        assert record["seconds"] >= record["compute_seconds"] > 0
        assert record["communication_seconds"] == pytest.approx(record["seconds"] - record["compute_seconds"])
        assert record["samples_per_second"] > 0
    builds = history["model_builds"]
    # once per Python worker, not once per round; after DataFrame jobs (two Python workers per task: the Arrow
    # conversion and the RDD beside it) Spark's pool can hold twice as many idle workers as cores
    assert 1 <= sum(builds) <= 4 and builds[4:] == [0] * (len(builds) - 4)
    assert history.to_json().startswith("[")


def test_spark_and_local_engines_agree(spark_engine):
    on_spark, _, _ = train_digits(spark_engine, rounds=3)
    in_process, _, _ = train_digits(dist.LocalEngine(), rounds=3)
    np.testing.assert_allclose(weights(on_spark), weights(in_process), rtol=1e-6, atol=1e-7)


def test_epochs_count_rounds_over_the_largest_partition():
    x, y = digits()
    model = mlp()
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1), workers=2,
                                      tau=3, batch_size=32, engine=dist.LocalEngine(), progress=False)
    _, history = trainer.fit(dist.from_numpy(x[:1500], y[:1500], partitions=[800, 700]), epochs=1)
    assert len(history) == 9  # ceil(800 / 32) = 25 steps, 3 per round
    assert history.last["epoch"] == pytest.approx(27 / 25)


def test_an_empty_partition_sits_out():
    x, y = digits()

    def run(partitions):
        model = mlp()
        trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1),
                                          workers=len(partitions), tau=2, batch_size=16, engine=dist.LocalEngine(),
                                          progress=False)
        return weights(trainer.fit(dist.from_numpy(x[:900], y[:900], partitions=partitions), rounds=3)[0])

    np.testing.assert_array_equal(run([600, 300, 0]), run([600, 300]))


def test_the_average_is_weighted_by_samples():
    """Uneven partitions, one full-batch step each: the average is the full-batch gradient step."""
    x, y = digits()
    x, y = x[:400].astype(np.float64), y[:400]
    model = mlp(dtype="float64")
    start = [p.numpy().copy() for p in model.parameters()]
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.5), workers=2,
                                      tau=1, batch_size=400, engine=dist.LocalEngine(), progress=False)
    trainer.fit(dist.from_numpy(x, y, partitions=[300, 100]), rounds=1)

    reference = mlp(dtype="float64")
    F.cross_entropy(reference(st.tensor(x)), st.tensor(y)).backward()
    for p, q, w in zip(model.parameters(), reference.parameters(), start):
        np.testing.assert_allclose(p.numpy(), w - 0.5 * q.grad.numpy(), rtol=0, atol=1e-12)


def _momentum_run(optimizer_state, trainer_class=dist.ParameterAveraging, rounds=30):
    x, y = digits()
    x = x[:600].astype(np.float64)
    model = mlp(dtype="float64")
    optimizer = st.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    options = {} if trainer_class is dist.SynchronousSGD else {"tau": 1, "optimizer_state": optimizer_state}
    trainer = trainer_class(model, F.cross_entropy, optimizer, workers=2, batch_size=16, engine=dist.LocalEngine(),
                            progress=False, **options)
    trainer.fit((x, y[:600]), rounds=rounds)
    with st.no_grad():
        loss = float(F.cross_entropy(model(st.tensor(x)), st.tensor(y[:600])).item())
    return weights(model), loss


def test_optimizer_state_choice_matters_and_averaging_is_the_right_default():
    """With tau=1, averaging momentum buffers is exactly synchronous SGD with momentum; resetting them is not."""
    averaged, averaged_loss = _momentum_run("average")
    reset, reset_loss = _momentum_run("reset")
    synchronous, _ = _momentum_run(None, dist.SynchronousSGD)
    np.testing.assert_allclose(averaged, synchronous, rtol=0, atol=1e-10)
    assert np.abs(reset - averaged).max() > 1e-2
    assert averaged_loss < 0.8 * reset_loss


def test_adam_with_averaged_moments_trains():
    x, y = digits()
    model = mlp()
    optimizer = st.optim.Adam(model.parameters(), lr=1e-2)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=2, tau=5, batch_size=32,
                                      engine=dist.LocalEngine(), progress=False)
    _, history = trainer.fit((x[:1500], y[:1500]), epochs=3, eval_data=(x[1500:], y[1500:]))
    assert history.last["accuracy"] >= 0.9
    step = optimizer.state[next(iter(model.parameters()))]["step"]
    assert float(step.item()) == len(history) * 5  # the averaged step count kept counting


class TinyNet(nn.Module):
    """A model class executors cannot import (it lives in this test file): it must travel by value."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(64, 16)
        self.out = nn.Linear(16, 10)

    def forward(self, x):
        return self.out(self.hidden(x).relu())


def test_user_classes_and_lambdas_reach_the_executors(spark_engine):
    x, y = digits()
    st.manual_seed(0)
    model = TinyNet()
    before = weights(model)
    trainer = dist.ParameterAveraging(model, lambda out, target: F.cross_entropy(out, target),
                                      st.optim.SGD(model.parameters(), lr=0.1), workers=2, tau=2, batch_size=32,
                                      engine=spark_engine, progress=False)
    _, history = trainer.fit((x[:600], y[:600]), rounds=2)
    assert np.isfinite(history["loss"]).all()
    assert np.abs(weights(model) - before).max() > 1e-4


def test_labels_beyond_the_model_outputs_are_refused():
    x, y = digits()
    y = y[:100].copy()
    y[70] = 12
    model = mlp()
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1), workers=2,
                                      engine=dist.LocalEngine(), progress=False)
    with pytest.raises(ValueError, match=r"partition 1 has label 12, out of range for the model's 10 classes"):
        trainer.fit((x[:100], y), rounds=1)
    with pytest.raises(ValueError, match=r"cannot take the data's samples, of shape \(32,\)"):
        trainer.fit((x[:100, :32], y), rounds=1)


def test_progress_bar_and_job_descriptions(spark_engine, capsys):
    x, y = digits()
    model = mlp()
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1), workers=2,
                                      tau=2, engine=spark_engine)
    descriptions = []
    trainer.fit((x[:300], y[:300]), rounds=2,
                callback=lambda record: descriptions.append(spark_engine.sc.getLocalProperty("spark.job.description")))
    err = capsys.readouterr().err
    assert "ParameterAveraging" in err and "2/2" in err
    assert [d.split(",")[0] for d in descriptions] == ["sparktensor ParameterAveraging: round 1/2",
                                                       "sparktensor ParameterAveraging: round 2/2"]
    assert spark_engine.sc.getLocalProperty("spark.job.description") is None  # later jobs are not labelled


def test_evaluate_matches_the_driver(engine):
    x, y = digits()
    model = mlp()
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.SGD(model.parameters(), lr=0.1), workers=2,
                                      engine=engine, eval_batch_size=100, progress=False)
    result = trainer.evaluate((x[:500], y[:500]))
    assert result["accuracy"] == pytest.approx(_accuracy(model, x[:500], y[:500]))
    with st.no_grad():
        expected = float(F.cross_entropy(model(st.tensor(x[:500])), st.tensor(y[:500])).item())
    assert result["eval_loss"] == pytest.approx(expected, rel=1e-5)
