"""``sparktensor train`` in one process (the Spark run is in tests/dist/test_dist_cli.py)."""
import json

import pytest

import sparktensor as st
from sparktensor import cli
from sparktensor.data import DatasetMissingError


def test_train_writes_model_and_history(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "run"
    code = cli.main(["train", "--model", "mlp", "--dataset", "digits", "--engine", "local", "--workers", "2",
                     "--epochs", "3", "--out", str(out)])
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["accuracy"] > 0.8
    state = st.load(out / "model.safetensors")
    assert state["1.weight"].shape == (256, 64)
    assert "test accuracy" in capsys.readouterr().out


def test_incompatible_model_and_data_set_is_explained(tmp_path, capsys):
    code = cli.main(["train", "--model", "lenet", "--dataset", "digits", "--engine", "local", "--out",
                     str(tmp_path)])
    assert code == 2
    assert "28x28 images" in capsys.readouterr().err


def test_unknown_choice_is_refused():
    with pytest.raises(SystemExit):
        cli.main(["train", "--model", "resnet"])


def test_sequence_models_build_for_their_data_sets():
    try:
        x, y, tx, ty, meta = cli.load_dataset("japanese-vowels")
    except DatasetMissingError as e:
        pytest.skip(str(e))
    model = cli.build_model("lstm", "japanese-vowels", meta, x)
    assert model(st.tensor(x[:4])).shape == (4, 9)
