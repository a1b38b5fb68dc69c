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


def test_the_character_transformer_builds_for_shakespeare_only(tmp_path, capsys):
    try:
        x, y, _, _, meta = cli.load_dataset("shakespeare", limit=4)
    except DatasetMissingError as e:
        pytest.skip(str(e))
    model = cli.build_model("transformer", "shakespeare", meta, x)
    assert any(".self_attn." in key for key in model.state_dict())  # the transformer, not the LSTM
    assert model(st.tensor(x[:2])).shape == (2, meta["classes"], x.shape[1])  # logits laid out as CharLSTM's
    dropouts = [m.p for m in model.modules() if isinstance(m, st.nn.Dropout)]
    assert dropouts and set(dropouts) == {0.0}  # the example's tuned recipe trains without dropout
    assert cli.main(["train", "--model", "transformer", "--dataset", "digits", "--engine", "local", "--out",
                     str(tmp_path / "other")]) == 2
    assert "character model of the shakespeare data set" in capsys.readouterr().err


def test_model_parallel_training_from_the_command_line(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "run"
    code = cli.main(["train", "--model", "mlp", "--dataset", "digits", "--engine", "local", "--mode", "model",
                     "--mesh", "1x2", "--epochs", "3", "--tau", "5", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["accuracy"] > 0.8
    assert st.load(out / "model.safetensors")["1.weight"].shape == (256, 64)  # gathered into the ordinary model
    assert "model parallel on a 1x2 mesh" in capsys.readouterr().out


@pytest.mark.parametrize("mode,mesh,message", [
    ("hybrid", None, "needs --mesh DxM"),
    ("data", "2x2", "--mode hybrid"),
    ("model", "2x2", "--mesh 1x2"),
    ("hybrid", "2by2", "DxM with positive integers"),
])
def test_inconsistent_mode_and_mesh_are_explained(tmp_path, capsys, mode, mesh, message):
    args = ["train", "--model", "mlp", "--dataset", "digits", "--engine", "local", "--mode", mode, "--out",
            str(tmp_path)] + (["--mesh", mesh] if mesh else [])
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err
