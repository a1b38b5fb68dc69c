"""The Spark ML params and model builders, without Spark jobs: defaults, checks, builders and import paths."""
import numpy as np
import pytest

pytest.importorskip("pyspark")

import sparktensor as st  # noqa: E402
from sparktensor import models  # noqa: E402
from sparktensor.ml import SparkTensorClassifier, SparkTensorRegressor, builders  # noqa: E402


def small_builder(input_shape, outputs, width=3):
    """A builder importable as ``<this module>:small_builder``."""
    return st.nn.Sequential(st.nn.Flatten(), st.nn.Linear(int(np.prod(input_shape)), width),
                            st.nn.Linear(width, outputs))


def test_params_have_defaults_accessors_and_keyword_arguments():
    classifier = SparkTensorClassifier(epochs=3, learningRate=0.5, modelOptions={"hidden": [8]})
    assert (classifier.getEpochs(), classifier.getLearningRate(), classifier.getModelOptions()) == (3, 0.5,
                                                                                                  {"hidden": [8]})
    assert (classifier.getModel(), classifier.getLoss(), classifier.getOptimizer(), classifier.getMode()) == (
        "mlp", "cross_entropy", "adam", "data")
    assert classifier.getSeed() == 0 and classifier.getWorkers() is None and classifier.getNumClasses() == 0
    assert classifier.setTau(4).getTau() == 4
    assert classifier.setOptimizer("SGD").getOptimizer() == "sgd"
    regressor = SparkTensorRegressor()
    assert regressor.getLoss() == "mse" and not regressor.hasParam("probabilityCol")


def test_copy_with_extra_params_leaves_the_original():
    classifier = SparkTensorClassifier(learningRate=0.1)
    other = classifier.copy({classifier.learningRate: 0.2})
    assert other.getLearningRate() == 0.2 and classifier.getLearningRate() == 0.1


@pytest.mark.parametrize("params, error, words", [
    ({"epochs": 0}, ValueError, ["epochs", "positive"]),
    ({"learningRate": -1.0}, ValueError, ["learningRate", "positive"]),
    ({"optimizer": "lbfgs"}, ValueError, ["optimizer", "sgd", "adam"]),
    ({"mode": "pipeline"}, ValueError, ["mode", "data", "hybrid"]),
    ({"modelOptions": {"f": object()}}, ValueError, ["modelOptions", "JSON"]),
    ({"modelOptions": [1, 2]}, TypeError, ["modelOptions", "dict"]),
    ({"featureShape": [1, 0]}, ValueError, ["featureShape", "positive"]),
    ({"numClasses": -1}, ValueError, ["numClasses", ">= 0"]),
    ({"model": 3}, TypeError, ["model", "zoo"]),
    ({"hidden": [3]}, TypeError, ["no param", "hidden", "modelOptions"]),
])
def test_bad_param_values_name_the_param(params, error, words):
    with pytest.raises(error) as info:
        SparkTensorClassifier(**params)
    assert all(word in str(info.value) for word in words), str(info.value)


@pytest.mark.parametrize("name, input_shape, expected", [
    ("mlp", (4,), models.MLP), ("MLP", (2, 3), models.MLP), ("lenet5", (1, 28, 28), models.LeNet5),
    ("lstmclassifier", (7, 2), models.LSTMClassifier),
])
def test_zoo_names_build_networks_sized_from_the_data(name, input_shape, expected):
    network = builders.build(name, input_shape, 3, {}, seed=0)
    assert isinstance(network, expected)
    with st.no_grad():
        out = network.eval()(st.randn(5, *input_shape))
    assert out.shape == (5, 3)


def test_zoo_options_reach_the_network():
    network = builders.build("mlp", (4,), 2, {"hidden": [5, 6]}, seed=0)
    assert [tuple(p.shape) for p in network.parameters()] == [(5, 4), (5,), (6, 5), (6,), (2, 6), (2,)]


@pytest.mark.parametrize("name, input_shape, words", [
    ("lenet5", (64,), ["lenet5", "[channels, 28, 28]", "featureShape"]),
    ("lstmclassifier", (8,), ["lstmclassifier", "[steps, channels]"]),
    ("mlp", (4,), ["mlp", "nonsense"]),
])
def test_builders_reject_shapes_and_options_they_cannot_take(name, input_shape, words):
    options = {"nonsense": 1} if name == "mlp" else {}
    with pytest.raises(ValueError) as info:
        builders.build(name, input_shape, 3, options, seed=0)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_build_draws_weights_from_the_seed_and_restores_the_callers_stream():
    st.manual_seed(5)
    expected_next = st.rand(3).numpy()
    st.manual_seed(5)
    a = builders.build("mlp", (4,), 3, {"hidden": [8]}, seed=1)
    assert np.array_equal(st.rand(3).numpy(), expected_next)
    b = builders.build("mlp", (4,), 3, {"hidden": [8]}, seed=1)
    c = builders.build("mlp", (4,), 3, {"hidden": [8]}, seed=2)
    weights = [[p.numpy() for p in n.parameters()] for n in (a, b, c)]
    assert all(np.array_equal(x, y) for x, y in zip(weights[0], weights[1]))
    assert not np.array_equal(weights[0][0], weights[2][0])


def test_import_paths_resolve_and_round_trip():
    path = f"{__name__}:small_builder"
    assert builders.resolve(path) is small_builder
    assert builders.import_path(small_builder) == path
    assert builders.persistable(small_builder) == path
    assert builders.persistable("mlp") == "mlp"
    network = builders.build(path, (2, 2), 5, {"width": 4}, seed=0)
    assert [tuple(p.shape) for p in network.parameters()] == [(4, 4), (4,), (5, 4), (5,)]


def test_builders_that_cannot_be_imported_are_refused_by_name():
    def local_builder(input_shape, outputs):
        return small_builder(input_shape, outputs)

    assert builders.import_path(local_builder) is None and builders.import_path(lambda s, o: None) is None
    with pytest.raises(ValueError, match="local_builder.*not importable|not importable.*local_builder"):
        builders.persistable(local_builder)
    assert builders.resolve(local_builder) is local_builder  # a callable still trains


@pytest.mark.parametrize("path, words", [
    ("resnet", ["resnet", "model-zoo", "mlp"]),
    ("no_such_module_xyz:f", ["cannot import", "no_such_module_xyz"]),
    (f"{__name__}:missing", ["has no", "missing"]),
    ("numpy:pi", ["float", "not a callable"]),
])
def test_unresolvable_model_names_say_why(path, words):
    with pytest.raises(ValueError) as info:
        builders.resolve(path)
    assert all(word in str(info.value) for word in words), str(info.value)
