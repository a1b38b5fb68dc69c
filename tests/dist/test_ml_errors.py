"""Bad input to the Spark ML estimators and models: each error names the column, value or setting at fault."""
import pytest

from sparktensor.dist import History


def frame(spark, labels, label_type="long", features="array<double>"):
    rows = [([float(i), float(i % 3)], label) for i, label in enumerate(labels)]
    return spark.createDataFrame(rows, f"features {features}, label {label_type}")


def classifier(**params):
    from sparktensor.ml import SparkTensorClassifier
    settings = dict(modelOptions={"hidden": [4]}, epochs=1, batchSize=4, workers=2)
    settings.update(params)
    return SparkTensorClassifier(**settings)


def hand_made_model(**params):
    """A fitted classifier built from a fresh network's weights, without training (2 features, 3 classes)."""
    from sparktensor.ml import SparkTensorClassificationModel, builders
    network = builders.build("mlp", (2,), 3, {"hidden": [4]}, seed=0)
    model = SparkTensorClassificationModel(weights={k: v.numpy() for k, v in network.state_dict().items()},
                                           history=History())
    return model._set(modelOptions={"hidden": [4]}, inputShape=[2], numOutputs=3, **params)


def test_a_missing_column_is_named_with_the_columns_there_are(spark):
    df = frame(spark, [0, 1, 2])
    with pytest.raises(ValueError, match=r"no column 'pixels' \(featuresCol\) in the DataFrame; its columns are "
                                         r"\['features', 'label'\]"):
        classifier(featuresCol="pixels").fit(df)
    with pytest.raises(ValueError, match=r"no column 'y' \(labelCol\) in the DataFrame; its columns are"):
        classifier(labelCol="y").fit(df)


def test_non_numeric_columns_are_named(spark):
    words = spark.createDataFrame([("a", 0), ("b", 1)], "features string, label int")
    with pytest.raises(TypeError, match="features column 'features' has type string; it must be an ML Vector"):
        classifier().fit(words)
    texts = spark.createDataFrame([([1.0], "cat"), ([2.0], "dog")], "features array<double>, label string")
    with pytest.raises(TypeError, match="label column 'label' has type string.*StringIndexer"):
        classifier().fit(texts)


@pytest.mark.parametrize("labels, label_type, params, words", [
    ([0.0, 1.5, 2.0], "double", {}, ["label column 'label' holds 1.5", "0..C-1"]),
    ([0.0, float("nan"), 1.0], "double", {}, ["holds nan"]),
    ([0, -1, 2], "long", {}, ["holds -1", "class indices 0..2"]),
    ([0, 1, 2], "int", {"numClasses": 2}, ["holds 2", "0..1 of 2 classes"]),
    ([0, 0, 0], "long", {}, ["only class 0", "at least 2 classes"]),
])
def test_classifier_labels_must_be_class_indices(spark, labels, label_type, params, words):
    with pytest.raises(ValueError) as info:
        classifier(**params).fit(frame(spark, labels, label_type))
    assert all(word in str(info.value) for word in words), str(info.value)


def test_null_features_are_named_with_their_partition(spark):
    rows = [([1.0, 2.0], 0), (None, 1), ([1.0, 0.0], 1)]
    df = spark.createDataFrame(rows, "features array<double>, label long").coalesce(1)
    with pytest.raises(ValueError, match="partition 0, column 'features'.*null"):
        classifier().fit(df)


@pytest.mark.parametrize("params, words", [
    ({"loss": "hinge"}, ["loss must be one of", "cross_entropy", "hinge"]),
    ({"optimizerOptions": {"betas2": 0.9}}, ["optimizer 'adam'", "betas2"]),
    ({"model": "resnet"}, ["resnet", "model-zoo"]),
])
def test_bad_training_settings_are_named(spark, params, words):
    with pytest.raises(ValueError) as info:
        classifier(**params).fit(frame(spark, [0, 1, 2, 1]))
    assert all(word in str(info.value) for word in words), str(info.value)


def test_string_indexed_labels_declare_the_number_of_classes(spark):
    """StringIndexer's label metadata says 3 classes, so a model fitted on rows of 2 of them has 3 outputs."""
    from pyspark.ml.feature import StringIndexer
    rows = [([float(i), 1.0], name) for i, name in enumerate(["cat", "dog", "cat", "bird", "dog", "cat"])]
    df = spark.createDataFrame(rows, "features array<double>, animal string")
    indexed = StringIndexer(inputCol="animal", outputCol="label").fit(df).transform(df)
    two_classes = indexed.where("animal != 'bird'")
    model = classifier().fit(two_classes)
    assert model.numClasses == 3
    probabilities = model.transform(indexed).select("probability").collect()
    assert {len(r.probability) for r in probabilities} == {3}


def test_transform_names_missing_features_and_taken_output_columns(spark):
    model = hand_made_model()
    df = frame(spark, [0, 1])
    with pytest.raises(ValueError, match=r"no column 'x' \(featuresCol\) in the DataFrame; its columns are"):
        model.copy({model.featuresCol: "x"}).transform(df)
    with pytest.raises(ValueError, match="output column 'label' .*probabilityCol.* already in the DataFrame"):
        model.copy({model.probabilityCol: "label"}).transform(df)


def test_transform_names_features_of_the_wrong_size(spark):
    model = hand_made_model()
    wide = spark.createDataFrame([([1.0, 2.0, 3.0], 0)], "features array<double>, label long")
    with pytest.raises(Exception, match=r"column 'features': features of shape \[3\], but the model was trained "
                                        r"on features of shape \[2\]"):
        model.transform(wide).collect()
