"""``mode`` and ``mesh``: their checks, and model-parallel training through ``dist.HybridTrainer``."""
import importlib.util

import numpy as np
import pytest

from test_ml_pipeline import COLUMNS, wine_frames, wine_pipeline

HAVE_HYBRID = importlib.util.find_spec("sparktensor.dist.trainers.hybrid.trainer") is not None


@pytest.mark.parametrize("params, words", [
    ({"mode": "data", "mesh": [2]}, ["mesh=[2]", "mode 'data'", "workers"]),
    ({"mode": "model", "workers": None}, ["mode 'model'", "mesh=[M]"]),
    ({"mode": "hybrid", "mesh": [2], "workers": None}, ["mode 'hybrid'", "[D, M]", "mesh=[2]"]),
    ({"mode": "model", "mesh": [2], "workers": 2}, ["workers=2", "mode 'data'", "mesh"]),
])
def test_mode_and_mesh_must_agree(spark, params, words):
    from pyspark.ml.feature import VectorAssembler
    train, _ = wine_frames(spark)
    assembled = VectorAssembler(inputCols=COLUMNS, outputCol="scaled").transform(train)
    with pytest.raises(ValueError) as info:
        wine_pipeline(**params).getStages()[-1].fit(assembled)
    assert all(word in str(info.value) for word in words), str(info.value)


@pytest.mark.skipif(not HAVE_HYBRID, reason="dist.HybridTrainer is not part of this version")
def test_model_parallel_mode_trains_as_one_data_parallel_worker_does(spark):
    """A network split over 2 ranks (gradients all-reduced every step) matches one worker at the same batch."""
    train, test = wine_frames(spark)
    settings = dict(tau=1, batchSize=64, epochs=3)
    split = wine_pipeline(mode="model", mesh=[2], workers=None, **settings).fit(train)
    whole = wine_pipeline(mode="data", workers=1, **settings).fit(train)
    a, b = split.stages[-1], whole.stages[-1]
    assert len(a.history) == len(b.history) == 6
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-5)
    assert a.weights.keys() == b.weights.keys()
    for name in a.weights:
        np.testing.assert_allclose(a.weights[name], b.weights[name], rtol=1e-4, atol=1e-6, err_msg=name)
    assert a.history["loss"][-1] < 0.7 * a.history["loss"][0]
    assert split.transform(test).select("prediction").count() == test.count()
