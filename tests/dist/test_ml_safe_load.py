"""Loading a saved estimator or model runs no code named in its metadata unless the caller opts in."""
import sys
import textwrap

import numpy as np
import pytest

BUILDER_MODULE = "sparktensor_probe_builder"


@pytest.fixture
def probe_module(tmp_path, monkeypatch):
    """An importable builder module that leaves a marker file when it is imported; returns the marker's path."""
    marker = tmp_path / "imported"
    source = tmp_path / "modules"
    source.mkdir()
    (source / f"{BUILDER_MODULE}.py").write_text(textwrap.dedent(f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("imported")
        from sparktensor import models

        def build(input_shape, outputs, **options):
            return models.MLP(input_shape[0], out_features=outputs, hidden=[3])
    """))
    monkeypatch.syspath_prepend(str(source))
    monkeypatch.delitem(sys.modules, BUILDER_MODULE, raising=False)
    return marker


def saved_model(path, builder):
    """A fitted classification model over 2 features and 2 classes, saved at ``path`` with builder ``builder``."""
    from sparktensor import models
    from sparktensor.dist.trainers.history import History
    from sparktensor.ml import SparkTensorClassificationModel
    net = models.MLP(2, out_features=2, hidden=[3])
    weights = {name: t.numpy() for name, t in net.state_dict().items()}
    model = SparkTensorClassificationModel(weights=weights, history=History())
    model._set(model=builder, inputShape=[2], numOutputs=2)
    model.save(path)
    return model


def test_a_saved_import_path_is_refused_without_importing_it(spark, tmp_path, probe_module):
    from sparktensor.ml import SparkTensorClassificationModel
    path = str(tmp_path / "model")
    saved_model(path, f"{BUILDER_MODULE}:build")
    with pytest.raises(ValueError, match=rf"{BUILDER_MODULE}:build.*allow_import=True"):
        SparkTensorClassificationModel.load(path)
    assert not probe_module.exists() and BUILDER_MODULE not in sys.modules


def test_a_pipeline_with_a_saved_import_path_is_refused_too(spark, tmp_path, probe_module):
    from pyspark.ml import PipelineModel
    path = str(tmp_path / "pipeline")
    PipelineModel(stages=[saved_model(str(tmp_path / "stage"), f"{BUILDER_MODULE}:build")]).save(path)
    with pytest.raises(ValueError, match="allowing_imports"):
        PipelineModel.load(path)
    assert not probe_module.exists()


def test_opting_in_loads_the_import_path_and_builds_with_it(spark, tmp_path, probe_module):
    from pyspark.ml import PipelineModel

    from sparktensor.ml import SparkTensorClassificationModel, allowing_imports
    path = str(tmp_path / "model")
    model = saved_model(path, f"{BUILDER_MODULE}:build")
    loaded = SparkTensorClassificationModel.load(path, allow_import=True)
    assert loaded.getModel() == f"{BUILDER_MODULE}:build"
    x = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    from sparktensor import Tensor
    assert np.array_equal(loaded.network()(Tensor(x)).numpy(), model.network()(Tensor(x)).numpy())
    assert probe_module.exists()
    PipelineModel(stages=[model]).save(str(tmp_path / "pipeline"))
    with allowing_imports():
        stage = PipelineModel.load(str(tmp_path / "pipeline")).stages[0]
    assert stage.getModel() == f"{BUILDER_MODULE}:build"
    with pytest.raises(ValueError, match="allowing_imports"):  # the permission ends with the block
        PipelineModel.load(str(tmp_path / "pipeline"))


def test_model_zoo_names_load_as_before(spark, tmp_path):
    from sparktensor.ml import SparkTensorClassificationModel
    path = str(tmp_path / "model")
    model = saved_model(path, "mlp")
    loaded = SparkTensorClassificationModel.load(path)
    assert loaded.getModel() == "mlp"
    assert all(np.array_equal(loaded.weights[k], v) for k, v in model.weights.items())
