"""The chaos soak (``chaos_soak_job.py``) on ``local-cluster[2,1,1024]``: faults injected and survived.

Run: ``python -m pytest bench/test_chaos_soak.py --benchmark-only -s -q``. Prints the faults and the outcome;
the figures go into bench/RESULTS.md by hand.
"""
import json
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent


@pytest.mark.benchmark(group="chaos soak on local-cluster[2,1,1024]")
def test_chaos_soak(benchmark, tmp_path):
    out = tmp_path / "chaos.json"

    def run():
        subprocess.run([sys.executable, str(HERE / "chaos_soak_job.py"), str(out), "150", "0"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1200)

    benchmark.pedantic(run, rounds=1)
    report = json.loads(out.read_text())
    data = report["data_parallel"]
    kinds = [f["fault"] for f in data["faults"]]
    print(f"\ndata parallel: {data['rounds']} rounds in {data['seconds']} s; faults: "
          f"{kinds.count('Python worker killed')} Python workers and {kinds.count('executor JVM killed')} executor "
          f"JVMs killed; bit-identical to LocalEngine: {data['bit_identical']}; blocks rebuilt: "
          f"{data['rebuilt_blocks_warnings']} time(s)")
    print("| gang launch | fault | seconds | failure named | relaunched | same result |")
    print("|---|---|---|---|---|---|")
    for i, gang in enumerate(report["gangs"]):
        print(f"| {i + 1} | {gang['fault']} | {gang['seconds']} | {gang['message'] or '-'} | {gang['relaunched']} | "
              f"{gang['same_result']} |")
    assert data["rounds"] == 150 and data["bit_identical"] and data["same_losses"]
    assert kinds.count("executor JVM killed") == 2 and len(kinds) >= 6
    for gang in report["gangs"]:
        assert gang["same_result"]
        assert gang["relaunched"] == (gang["fault"] != "none") and gang["named_rank_1"] == gang["relaunched"]
