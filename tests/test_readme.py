"""The README's commands and code blocks work exactly as printed."""
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_the_two_commands():
    main_job, tests = _blocks("bash")[:2]
    assert "sparktensor train --model lenet --dataset fashion-mnist" in main_job
    assert "pytest" in tests
    assert README.index(main_job) < README.index("## ")


def test_ci_runs_the_readme_test_command():
    test_command = _blocks("bash")[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks may write files
    code = _blocks("python")[index]
    namespace = {"__name__": f"readme_block_{index}"}
    exec(compile(code, f"README.md python block {index}", "exec"), namespace)


def test_quickstart_script_runs_and_fits():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], capture_output=True,
                            text=True, timeout=300, check=True)
    final = float(re.search(r"final mse ([0-9.]+)", result.stdout).group(1))
    assert final < 0.02, result.stdout
