"""The shared work of a test run is done once, whichever of pytest-xdist's workers asks first."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

TWO_WORKERS = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from shared_builds import SharedWork

    directory, name, fail = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "fail"

    def make():
        with open(directory / "made", "a") as made:
            made.write(name + "\\n")
        time.sleep(1)  # the other worker asks meanwhile
        if fail:
            raise ValueError("the job broke")
        return {{"made by": name}}

    try:
        print(SharedWork(directory).once("job", make))
    except Exception as error:
        print(type(error).__name__, error)
    """
)


def run_two_workers(tmp_path: Path, fail: bool) -> list[str]:
    script = tmp_path / "worker.py"
    script.write_text(TWO_WORKERS.format(tests=str(Path(__file__).parent)))
    shared = tmp_path / "shared"
    shared.mkdir()
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(shared), name, "fail" if fail else "ok"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("gw0", "gw1")
    ]
    outputs = [worker.communicate(timeout=60)[0].strip() for worker in workers]
    assert len((shared / "made").read_text().splitlines()) == 1, "the job ran twice"
    return outputs


def test_a_job_is_done_once_and_both_workers_get_its_result(tmp_path):
    first, second = run_two_workers(tmp_path, fail=False)
    assert first == second and first.startswith("{'made by': 'gw"), (first, second)


def test_a_job_that_fails_fails_in_both_workers(tmp_path):
    outputs = run_two_workers(tmp_path, fail=True)
    assert sorted(outputs) == [
        "RuntimeError the shared job 'job' failed in another worker: ValueError: the job broke",
        "ValueError the job broke",
    ], outputs
