"""The ``sparktensor`` command refuses bad arguments before Spark starts, in one line, writing nothing; its
``--help`` is plain text with a default for every option; ``python -m sparktensor`` is the same command."""
import argparse
import os
import subprocess
import sys
import time

import pytest

from sparktensor import cli


@pytest.fixture
def no_spark(monkeypatch):
    """Fail the test if the command gets as far as making an engine."""
    def refuse(args):
        raise AssertionError("the command started an engine before refusing its arguments")
    monkeypatch.setattr(cli, "make_engine", refuse)


@pytest.mark.parametrize("option,value", [
    ("--epochs", "0"), ("--epochs", "-1"), ("--workers", "0"), ("--tau", "0"), ("--batch-size", "-4"),
    ("--lr", "0"), ("--lr", "nan"), ("--lr", "-0.1"), ("--eval-every", "0"), ("--limit", "0"), ("--classes", "0"),
    ("--seed", "-1"), ("--epochs", "three"), ("--mesh", "2x"), ("--feature-shape", "1,0"),
])
def test_a_bad_number_is_refused_in_one_line_naming_the_option_and_nothing_is_written(
        option, value, tmp_path, capsys, no_spark):
    out = tmp_path / "run"
    argv = ["train", "--model", "mlp", "--dataset", "digits", option, value, "--out", str(out)]
    if option == "--mesh":
        argv += ["--mode", "hybrid"]
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert option in err and value in err, err
    assert not out.exists() and os.listdir(tmp_path) == []


def test_an_unreachable_master_fails_fast_naming_the_host_and_the_cause(tmp_path):
    out = tmp_path / "run"
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "sparktensor", "train", "--master", "spark://nohost.invalid:7077",
                           "--model", "mlp", "--dataset", "digits", "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < 30
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert "nohost.invalid:7077" in last and "unknown host" in last, done.stderr
    assert not out.exists()


def test_a_refused_connection_to_the_master_is_named(tmp_path):
    import socket
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(ValueError, match=rf"127\.0\.0\.1:{port}: Connection refused"):
            cli.check_master(f"spark://127.0.0.1:{port}")


def test_python_dash_m_sparktensor_is_the_command():
    done = subprocess.run([sys.executable, "-m", "sparktensor", "train", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "--epochs" in done.stdout and "usage: sparktensor train" in done.stdout


def subcommands():
    top = cli.parser()
    action = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return top, action.choices


def test_help_is_plain_text_with_a_text_and_default_for_every_option(capsys):
    top, commands = subcommands()
    texts = [top.format_help()] + [command.format_help() for command in commands.values()]
    for text in texts:
        assert "``" not in text and ":func:" not in text and "2x1 mesh" not in text
    for name, command in commands.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help text"
            if action.default not in (None, False) and action.option_strings:
                assert "%(default)s" in action.help, f"{name} {action.option_strings} does not show its default"


def test_the_three_files_of_a_run_get_one_mode(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "run"
    assert cli.main(["train", "--model", "mlp", "--dataset", "digits", "--engine", "local", "--epochs", "1",
                     "--limit", "200", "--out", str(out)]) == 0
    modes = {name: os.stat(out / name).st_mode & 0o777 for name in ("model.safetensors", "history.json",
                                                                    "model.json")}
    assert len(set(modes.values())) == 1, modes
