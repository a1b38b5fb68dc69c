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


def test_data_mode_runs_as_one_barrier_stage_or_as_a_job_a_round_where_the_workers_do_not_fit(spark, tmp_path,
                                                                                             capsys):
    """local[2] runs 2 ranks at once, so 2 workers average over a gang (a checkpoint folder per rank); 3 workers
    do not fit, and the same training runs as ParameterAveraging's jobs, 2 tasks at a time."""
    histories = {}
    for workers in (2, 3):
        out = tmp_path / f"run-{workers}"
        assert cli.main(["train", "--model", "mlp", "--dataset", "digits", "--workers", str(workers), "--tau", "5",
                         "--epochs", "2", "--limit", "600", "--out", str(out)]) == 0
        histories[workers] = json.loads((out / "history.json").read_text())
        printed = capsys.readouterr().out
        ranks = sorted(p.name for p in (out / "checkpoints").iterdir() if p.name.startswith("rank-"))
        if workers == 2:
            assert ranks == ["rank-00000", "rank-00001"] and "one job a round" not in printed
        else:
            assert ranks == [] and "one job a round: the cluster cannot run them all at once" in printed
    for history in histories.values():
        assert history[-1]["accuracy"] > 0.6
