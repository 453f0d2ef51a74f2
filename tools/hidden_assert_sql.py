"""List every hidden assert that sends SQL, and every hidden block that prints, sends SQL
(but schema set-up) or changes the state table, in the examples given (all by default).

Runs each example as the docs build does (its hidden code instrumented by
``sphinxext/session_sync/claims.py``), outside Sphinx, and instead of stopping at the first
offender (the build fails there) prints each one with what it did. Takes DATABASE_URL like
the examples. Usage: ``python tools/hidden_assert_sql.py [examples/x/y.py ...]``; exit status
1 when any offended.
"""

from __future__ import annotations

import ast
import contextlib
import io
import sys
import traceback
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sphinxext"))

from session_sync import claims, recording, state  # noqa: E402


def scan(path: Path) -> int:
    offenders = 0

    def record_claim(line, message):
        nonlocal offenders
        transcript = recording.active_recording()[0]
        started = transcript.assert_started_at.get(line, len(transcript.cell_records))
        sent = [r.get("sql", "") for r in transcript.cell_records[started:]]
        try:
            return recording.record_claim(line, message)
        except AssertionError:
            offenders += 1
            shown = "; ".join(" ".join(sql.split())[:70] for sql in sent[:4])
            # On the real stdout: the example's own output is captured meanwhile.
            print(f"{path}:{line}: {len(sent)} statement(s): {shown}", file=sys.__stdout__)
            return False

    source = path.read_text(encoding="utf-8")
    tree = claims.instrument(ast.parse(source), claims.hidden_lines(source))
    # A module of its own as ``__main__``, as Sphinx-Gallery does: the mapped classes'
    # annotations are resolved in ``sys.modules[cls.__module__]``.
    module = types.ModuleType("__main__")
    module.__file__ = str(path)
    namespace = module.__dict__

    def report_block(message):
        nonlocal offenders
        offenders += 1
        print(f"{path}: {message}", file=sys.__stdout__)

    claims.install(namespace, record_claim, recording.assert_starts, report_block)
    real_main, sys.modules["__main__"] = sys.modules["__main__"], module
    recording.start_recording(recording.SqlTranscript(echo_to_stdout=False), state.ObjectTracker())
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(tree, str(path), "exec"), namespace)
    except BaseException as error:  # noqa: BLE001 - report and go on with the next example
        frames = [
            f.lineno for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)
        ]
        print(f"{path}:{frames[-1] if frames else '?'}: stopped: {type(error).__name__}: {error}")
        offenders += 1
    finally:
        recording.stop_recording()
        sys.modules["__main__"] = real_main
    return offenders


def main(arguments: list[str]) -> int:
    paths = [Path(a) for a in arguments] or sorted((ROOT / "examples").glob("*/*.py"))
    return 1 if sum(scan(path) for path in paths) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
