"""``sparktensor train --data`` and ``sparktensor predict`` on a user's Parquet and CSV tables."""
import json

import numpy as np
import pytest

import sparktensor as st
from sparktensor import cli
from dist_helpers import digits


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """The digits as a Parquet table (one array column) and as a CSV table (64 numeric columns)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    folder = tmp_path_factory.mktemp("tables")
    x, y = digits()
    x, y = x[:1000], y[:1000]
    pq.write_table(pa.table({"pixels": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 64), "digit": y}),
                   folder / "digits.parquet")
    frame = pd.DataFrame(x, columns=[f"p{i}" for i in range(64)])
    frame["digit"] = y
    frame[:800].to_csv(folder / "train.csv", index=False)
    frame[800:].to_csv(folder / "test.csv", index=False)
    return folder, x, y


def test_train_on_a_parquet_table_holds_out_a_tenth_and_predict_writes_parquet(spark, tables, tmp_path):
    folder, x, y = tables
    out = tmp_path / "run"
    code = cli.main(["train", "--data", str(folder / "digits.parquet"), "--features", "pixels", "--label", "digit",
                     "--feature-shape", "64", "--model", "mlp", "--workers", "2", "--tau", "5", "--epochs", "8",
                     "--lr", "0.01",
                     "--out", str(out)])
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["accuracy"] > 0.8
    spec = json.loads((out / "model.json").read_text())
    assert spec == {"model": "mlp", "dataset": None, "classes": 10, "feature_shape": [64], "features": ["pixels"],
                    "label": "digit"}

    predictions = tmp_path / "predictions"
    assert cli.main(["predict", "--model-dir", str(out), "--data", str(folder / "digits.parquet"),
                     "--out", str(predictions)]) == 0
    import pandas as pd
    written = pd.read_parquet(predictions).sort_values("digit", kind="stable")
    assert list(written.columns) == ["pixels", "digit", "prediction"] and len(written) == 1000
    # the executors' predictions are those of the saved weights, computed here
    network = cli.network((64,), 10, model="mlp")
    network.load_state_dict(st.load(str(out / "model.safetensors")))
    pixels = np.stack(written["pixels"].to_numpy()).astype(np.float32)
    expected = network.eval()(st.tensor(pixels)).numpy().argmax(axis=1)
    np.testing.assert_array_equal(written["prediction"].to_numpy(), expected)
    assert cli.main(["predict", "--model-dir", str(out), "--data", str(folder / "digits.parquet"),
                     "--out", str(predictions)]) == 2  # never overwrites


@pytest.mark.parametrize("engine", ["spark", "dask", "local"])
def test_train_on_csv_columns_with_eval_data(spark, tables, tmp_path, engine):
    folder, _, _ = tables
    out = tmp_path / engine
    code = cli.main(["train", "--data", str(folder / "train.csv"), "--eval-data", str(folder / "test.csv"),
                     "--label", "digit", "--model", "mlp", "--engine", engine, "--workers", "2", "--tau", "5",
                     "--epochs", "8", "--lr", "0.01", "--out", str(out)])
    assert code == 0
    spec = json.loads((out / "model.json").read_text())
    assert spec["features"] == [f"p{i}" for i in range(64)] and spec["feature_shape"] == [64]
    assert json.loads((out / "history.json").read_text())[-1]["accuracy"] > 0.8


def test_bad_columns_are_named(spark, tables, tmp_path, capsys):
    folder, _, _ = tables
    code = cli.main(["train", "--data", str(folder / "train.csv"), "--label", "nope", "--model", "mlp",
                     "--out", str(tmp_path / "run")])
    assert code == 2 and "--label 'nope' is not a column" in capsys.readouterr().err
    code = cli.main(["train", "--data", str(folder / "train.csv"), "--label", "digit", "--features", "p1,q7",
                     "--model", "mlp", "--out", str(tmp_path / "run")])
    assert code == 2 and "['q7']" in capsys.readouterr().err
    code = cli.main(["train", "--data", str(folder / "train.csv"), "--label", "digit", "--model", "lenet",
                     "--out", str(tmp_path / "run")])
    assert code == 2 and "28x28" in capsys.readouterr().err
