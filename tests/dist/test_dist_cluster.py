"""On ``local-cluster[2,1,1024]``: two executors in their own JVMs train as the in-process reference does."""
import numpy as np

import sparktensor.dist as dist
from dist_helpers import train_digits, weights


def test_local_cluster_trains_like_the_local_engine(local_cluster):
    result = local_cluster.call("train", rounds=3, seed=0)
    assert result["master"] == "local-cluster[2,1,1024]"
    assert len(result["executor_dirs"]) == 2  # tasks ran in two executors' work directories
    assert 1 <= sum(result["builds"]) <= 2 and result["builds"][-1] == 0
    model, _, history = train_digits(dist.LocalEngine(), seed=0, rounds=3)
    np.testing.assert_allclose(result["weights"], weights(model), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(result["loss"], history["loss"], rtol=1e-6)


def test_a_killed_executor_changes_nothing_in_training_on_resident_data(local_cluster):
    result = local_cluster.call("train_resident_killing_an_executor", rounds=5, kill_after=2)
    assert len(result["killed"]) == 1
    np.testing.assert_array_equal(np.array(result["weights"]), np.array(result["local"]))
    assert result["loss"] == result["local_loss"]
