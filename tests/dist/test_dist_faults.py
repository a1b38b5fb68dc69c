"""Determinism and fault tolerance: same seed same bits, retried tasks, checkpoints and resume, divergence."""
import os

import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn as nn
import sparktensor.nn.functional as F
from dist_helpers import digits, mlp, train_digits, weights


@pytest.fixture(scope="module")
def spark_baseline(spark):
    """The weights of a 4-round Spark run with seed 0, shared by the tests that compare against it."""
    model, _, _ = train_digits(dist.SparkEngine(spark), seed=0, rounds=4)
    return weights(model)


def test_same_seed_gives_the_same_bits(spark_engine, spark_baseline):
    again, _, _ = train_digits(spark_engine, seed=0, rounds=4)
    np.testing.assert_array_equal(weights(again), spark_baseline)
    other, _, _ = train_digits(dist.LocalEngine(), seed=1, rounds=4)
    assert not np.array_equal(weights(other), spark_baseline)


def test_a_crashed_task_is_retried_to_the_same_bits(spark_engine, spark_baseline):
    sc = spark_engine.sc
    sc.setJobGroup("sparktensor-crash-test", "a worker dies in round 2")
    try:
        crashed, _, history = train_digits(spark_engine, seed=0, rounds=4, crash=(1, 1))
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    tracker = sc.statusTracker()
    failed = sum(tracker.getStageInfo(stage).numFailedTasks
                 for job in tracker.getJobIdsForGroup("sparktensor-crash-test")
                 for stage in tracker.getJobInfo(job).stageIds if tracker.getStageInfo(stage) is not None)
    assert failed == 1, "the test hook should have killed exactly one task attempt"
    np.testing.assert_array_equal(weights(crashed), spark_baseline)


def _resume_run(engine, directory, rounds, model_seed, **fit):
    x, y = digits()
    model = mlp(seed=model_seed)
    optimizer = st.optim.Adam(model.parameters(), lr=1e-2)
    trainer = dist.ParameterAveraging(model, F.cross_entropy, optimizer, workers=2, tau=2, batch_size=32, seed=5,
                                      engine=engine, progress=False)
    _, history = trainer.fit((x[:800], y[:800]), rounds=rounds, checkpoint_dir=directory, **fit)
    return dist.FlatLayout(model, optimizer).flatten(model, optimizer), history


def test_resume_continues_to_the_same_bits(engine, tmp_path):
    full, _ = _resume_run(engine, str(tmp_path / "full"), 6, model_seed=0)
    partial = str(tmp_path / "partial")
    _resume_run(engine, partial, 3, model_seed=0)
    resumed, history = _resume_run(engine, partial, 6, model_seed=99, resume=True)  # weights come from the file
    np.testing.assert_array_equal(resumed, full)
    assert history["round"] == [1, 2, 3, 4, 5, 6]
    files = sorted(os.listdir(partial))
    assert files == ["round-000005.safetensors", "round-000006.safetensors"]  # the 2 latest, no temporary files

    from safetensors.numpy import load_file  # a plain safetensors file: no pickle anywhere
    tensors = load_file(os.path.join(partial, files[-1]))
    assert "model.0.weight" in tensors and "optimizer.state.0.exp_avg" in tensors


def test_a_fresh_run_sets_an_earlier_runs_checkpoints_aside(tmp_path):
    """Reusing a directory (as the CLI's --out does): the earlier, longer run's rounds are kept in previous-*/
    and neither prune the new run's checkpoints away nor get resumed as if they were the new run's."""
    directory = str(tmp_path)
    _resume_run(dist.LocalEngine(workers=2), directory, 5, model_seed=0)
    _resume_run(dist.LocalEngine(workers=2), directory, 2, model_seed=1)
    assert sorted(n for n in os.listdir(directory) if n.startswith("round-")) == [
        "round-000001.safetensors", "round-000002.safetensors"]
    [aside] = [n for n in os.listdir(directory) if n.startswith("previous-")]
    assert sorted(os.listdir(os.path.join(directory, aside))) == ["round-000004.safetensors",
                                                                  "round-000005.safetensors"]
    full, _ = _resume_run(dist.LocalEngine(workers=2), str(tmp_path / "full"), 4, model_seed=1)
    resumed, history = _resume_run(dist.LocalEngine(workers=2), directory, 4, model_seed=99, resume=True)
    np.testing.assert_array_equal(resumed, full)  # continued the second run, not the first
    assert history["round"] == [1, 2, 3, 4]


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    x, y = digits()
    _resume_run(dist.LocalEngine(), str(tmp_path), 1, model_seed=0)
    model = mlp()
    trainer = dist.ParameterAveraging(model, F.cross_entropy, st.optim.Adam(model.parameters(), lr=1e-2),
                                      workers=2, tau=3, batch_size=32, seed=5, engine=dist.LocalEngine(),
                                      progress=False)
    with pytest.raises(ValueError, match=r"cannot resume .*tau: checkpoint 2, now 3"):
        trainer.fit((x[:800], y[:800]), rounds=2, checkpoint_dir=str(tmp_path), resume=True)


def _regression(scale_partition=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32))[:, None]
    if scale_partition is not None:
        x[30 * scale_partition:30 * (scale_partition + 1)] *= np.float32(1e20)
    st.manual_seed(0)
    model = nn.Linear(4, 1)
    return model, dist.from_numpy(x, y, partitions=3)


def test_a_non_finite_round_names_the_round_and_the_partition(engine):
    model, data = _regression(scale_partition=1)
    trainer = dist.ParameterAveraging(model, F.mse_loss, st.optim.SGD(model.parameters(), lr=0.01), workers=3,
                                      tau=2, batch_size=10, engine=engine, progress=False)
    before = weights(model)
    with pytest.raises(FloatingPointError, match=r"round 1: non-finite .* partition\(s\) \[1\] of 3"):
        trainer.fit(data, rounds=2)
    np.testing.assert_array_equal(weights(model), before)


def test_divergence_keeps_the_last_good_checkpoint(tmp_path):
    model, data = _regression()
    optimizer = st.optim.SGD(model.parameters(), lr=0.01)
    trainer = dist.ParameterAveraging(model, F.mse_loss, optimizer, workers=3, tau=2, batch_size=10,
                                      engine=dist.LocalEngine(), progress=False)

    def blow_up(record):
        if record["round"] == 2:
            optimizer.param_groups[0]["lr"] = 1e30

    with pytest.raises(FloatingPointError, match=r"round 3: .*weights of round 2.*round-000002.safetensors"):
        trainer.fit(data, rounds=5, checkpoint_dir=str(tmp_path), callback=blow_up)
    path, state = dist.latest_checkpoint(str(tmp_path))
    assert os.path.basename(path) == "round-000002.safetensors" and state["round"] == 2
    assert sorted(os.listdir(tmp_path)) == ["round-000001.safetensors", "round-000002.safetensors"]
    assert np.isfinite(weights(model)).all()
    np.testing.assert_array_equal(state["model"]["weight"].numpy(), model.weight.numpy())
