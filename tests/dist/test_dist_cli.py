"""``sparktensor train`` on the shared Spark session."""
import json

from sparktensor import cli


def test_cli_trains_on_spark(spark, tmp_path):
    out = tmp_path / "run"
    code = cli.main(["train", "--model", "mlp", "--dataset", "digits", "--workers", "2", "--tau", "5",
                     "--epochs", "2", "--limit", "800", "--out", str(out)])
    assert code == 0
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["accuracy"] > 0.7
    assert (out / "model.safetensors").stat().st_size > 0
