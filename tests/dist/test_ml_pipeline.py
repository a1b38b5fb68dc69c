"""``SparkTensorClassifier`` as a stage of Spark ML: a Pipeline on the wine data, evaluators, cross validation,
and save/load of the fitted pipeline."""
import os

import numpy as np
import pytest

COLUMNS = [f"x{i}" for i in range(13)]


def wine_frames(spark):
    """scikit-learn's wine data (178 samples, 13 features, 3 classes), shuffled, as train and test DataFrames."""
    from sklearn.datasets import load_wine
    x, y = load_wine(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    rows = [tuple(float(v) for v in x[i]) + (int(y[i]),) for i in order]
    schema = ", ".join(f"{c} double" for c in COLUMNS) + ", label long"
    return spark.createDataFrame(rows[:128], schema), spark.createDataFrame(rows[128:], schema)


def wine_pipeline(**params):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import StandardScaler, VectorAssembler

    from sparktensor.ml import SparkTensorClassifier
    settings = dict(featuresCol="scaled", modelOptions={"hidden": [16]}, learningRate=0.03, epochs=16,
                    batchSize=16, workers=2, tau=8)
    settings.update(params)
    return Pipeline(stages=[VectorAssembler(inputCols=COLUMNS, outputCol="features"),
                            StandardScaler(inputCol="features", outputCol="scaled", withMean=True, withStd=True),
                            SparkTensorClassifier(**settings)])


@pytest.fixture(scope="module")
def wine(spark):
    train, test = wine_frames(spark)
    model = wine_pipeline().fit(train)
    return train, test, model


def test_pipeline_learns_wine_and_evaluators_read_its_output(wine):
    from pyspark.ml.evaluation import BinaryClassificationEvaluator, MulticlassClassificationEvaluator
    _, test, model = wine
    predictions = model.transform(test)
    accuracy = MulticlassClassificationEvaluator(metricName="accuracy").evaluate(predictions)
    assert accuracy >= 0.9, accuracy
    # the evaluator scores rows by rawPrediction[1]: class 1's logit, a good one-vs-rest score for class 1
    binary = predictions.withColumn("label", (predictions.label == 1).cast("double"))
    assert BinaryClassificationEvaluator().evaluate(binary) > 0.9
    history = model.stages[-1].history
    assert len(history) >= 2 and history["loss"][-1] < history["loss"][0]


def test_transform_adds_typed_columns_that_match_the_network_on_the_driver(wine):
    _, test, model = wine
    predictions = model.transform(test)
    fields = {f.name: f.dataType for f in predictions.schema.fields}
    assert predictions.columns[:len(test.columns)] == test.columns
    assert predictions.columns[-3:] == ["rawPrediction", "probability", "prediction"]
    assert type(fields["probability"]).__name__ == "VectorUDT" and type(fields["rawPrediction"]).__name__ == "VectorUDT"
    assert fields["prediction"].simpleString() == "double"
    rows = predictions.select("scaled", "rawPrediction", "probability", "prediction").collect()
    scaled = np.array([r.scaled.toArray() for r in rows], np.float32)
    raw = np.array([r.rawPrediction.toArray() for r in rows])
    probability = np.array([r.probability.toArray() for r in rows])
    classifier = model.stages[-1]
    assert classifier.numClasses == 3 and classifier.getInputShape() == [13]
    import sparktensor as st
    with st.no_grad():
        expected = classifier.network()(st.tensor(scaled)).numpy()
    np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-5)
    softmax = np.exp(expected - expected.max(1, keepdims=True))
    np.testing.assert_allclose(probability, softmax / softmax.sum(1, keepdims=True), rtol=1e-5, atol=1e-7)
    assert np.array_equal([r.prediction for r in rows], expected.argmax(1).astype(float))


def test_empty_output_column_names_leave_those_columns_out(wine):
    _, test, model = wine
    classifier = model.stages[-1].copy()
    classifier.setProbabilityCol("").setRawPredictionCol("")
    scaled = model.stages[1].transform(model.stages[0].transform(test))
    out = classifier.transform(scaled)
    assert out.columns == scaled.columns + ["prediction"]
    assert out.select("prediction").collect() == model.transform(test).select("prediction").collect()


def test_fitted_pipeline_saves_without_pickle_and_loads_with_identical_predictions(wine, tmp_path):
    from pyspark.ml import PipelineModel
    from safetensors.numpy import load_file
    _, test, model = wine
    path = str(tmp_path / "wine-model")
    model.save(path)
    loaded = PipelineModel.load(path)
    columns = ["rawPrediction", "probability", "prediction"]
    assert loaded.transform(test).select(columns).collect() == model.transform(test).select(columns).collect()
    classifier, reloaded = model.stages[-1], loaded.stages[-1]
    assert type(reloaded) is type(classifier) and reloaded.uid == classifier.uid
    assert reloaded.getModelOptions() == {"hidden": [16]} and reloaded.getFeaturesCol() == "scaled"
    assert reloaded.history.records == classifier.history.records
    stage_dir = next(os.path.join(path, "stages", d) for d in os.listdir(os.path.join(path, "stages"))
                     if d.startswith("2_"))
    on_disk = load_file(os.path.join(stage_dir, "weights.safetensors"))
    assert set(on_disk) == set(classifier.weights)
    assert all(np.array_equal(on_disk[k], v) for k, v in classifier.weights.items())
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                assert b"\x80\x04\x95" not in f.read(), f"a pickle in {name}"  # the pickle protocol 4 header


def test_a_relative_path_saves_the_weights_beside_the_metadata(wine, spark, tmp_path, monkeypatch):
    """Spark resolves a relative path against its JVM's working directory; the weights must go there too, even
    when this process has changed directory since the JVM started."""
    from pyspark.ml import PipelineModel
    _, test, model = wine
    jvm_dir = spark._jvm.java.lang.System.getProperty("user.dir")
    monkeypatch.chdir(tmp_path)
    assert os.path.realpath(os.getcwd()) != os.path.realpath(jvm_dir)
    name = f"relative-model-{os.getpid()}"
    try:
        model.save(name)
        loaded = PipelineModel.load(name)
        columns = ["probability", "prediction"]
        assert loaded.transform(test).select(columns).collect() == model.transform(test).select(columns).collect()
        stages = os.path.join(jvm_dir, name, "stages")
        assert any(os.path.exists(os.path.join(stages, d, "weights.safetensors")) for d in os.listdir(stages))
    finally:
        import shutil
        shutil.rmtree(os.path.join(jvm_dir, name), ignore_errors=True)


def test_an_unfitted_pipeline_saves_and_loads_its_classifier_settings(spark, tmp_path):
    from pyspark.ml import Pipeline
    path = str(tmp_path / "pipeline")
    wine_pipeline(optimizer="sgd", optimizerOptions={"momentum": 0.9}, numClasses=3).save(path)
    classifier = Pipeline.load(path).getStages()[-1]
    assert type(classifier).__name__ == "SparkTensorClassifier"
    assert (classifier.getOptimizer(), classifier.getOptimizerOptions(), classifier.getNumClasses()) == (
        "sgd", {"momentum": 0.9}, 3)
    assert (classifier.getFeaturesCol(), classifier.getTau(), classifier.getModel()) == ("scaled", 8, "mlp")


def test_overwriting_a_saved_model_needs_overwrite(wine, tmp_path):
    _, _, model = wine
    classifier = model.stages[-1]
    path = str(tmp_path / "classifier")
    classifier.save(path)
    with pytest.raises(Exception, match="already exists"):
        classifier.save(path)
    classifier.write().overwrite().save(path)
    assert os.path.exists(os.path.join(path, "weights.safetensors"))


def test_cross_validation_over_the_learning_rate_picks_the_one_that_learns(wine):
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
    train, test, model = wine
    scale = model.stages[0].transform, model.stages[1].transform  # features prepared once, not per fold
    train, test = (scale[1](scale[0](df)).cache() for df in (train, test))
    classifier = wine_pipeline(epochs=12, tau=12).getStages()[-1]
    grid = ParamGridBuilder().addGrid(classifier.learningRate, [1e-5, 0.05]).build()
    evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
    cv = CrossValidator(estimator=classifier, estimatorParamMaps=grid, evaluator=evaluator, numFolds=2, seed=3)
    cv_model = cv.fit(train)
    assert len(cv_model.avgMetrics) == 2
    assert cv_model.avgMetrics[1] > cv_model.avgMetrics[0] + 0.2, cv_model.avgMetrics
    assert cv_model.avgMetrics[1] >= 0.85
    assert evaluator.evaluate(cv_model.bestModel.transform(test)) >= 0.85
