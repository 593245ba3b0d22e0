"""Every shell block of README.md and docs/ runs as written against a served app with the demo
data, as a newcomer would run it after ``make run`` (issue 17, "Runs as written").

The blocks run in a scratch copy of the checkout (each top-level entry linked, ``data/`` its
own), against ``python -m app serve`` on a free port standing in for ``127.0.0.1:8000``. ``curl``
fails on an HTTP error (``--fail-with-body``), so a block that gets a 4xx or 5xx fails here.
A block that cannot run in a test says why in ``NOT_RUN``; a new block runs unless it is
listed there.
"""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import ROOT, app_env, run_app, serving
from tests.integration.conftest import sqlite_half_only

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(?:sh|bash)\n(.*?)```", re.S)

NOT_RUN = {
    "make run": "the two commands themselves: `make test` is what runs this test",
    "postgresql+psycopg://onex:secret@db.example.edu.cn": "needs the production database it names",
    "--expect 1230:": "an illustrative checkpoint, not this database's",
}
"""A block containing the key is not run, for the reason given."""

SKIPPED_LINES = re.compile(r"-m app serve\b")
"""Lines left out of a block that runs: serving (the test serves the app itself)."""


def _blocks() -> list[tuple[str, int, str]]:
    found = []
    for path in DOCS:
        for number, match in enumerate(BLOCK.finditer(path.read_text(encoding="utf-8")), 1):
            found.append((path.relative_to(ROOT).as_posix(), number, match.group(1)))
    return found


def _runs(block: str) -> bool:
    return not any(key in block for key in NOT_RUN)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    sqlite_half_only()
    if shutil.which("curl") is None:
        if os.environ.get("CI"):
            pytest.fail("curl is missing: .ci/run installs it")
        pytest.skip("curl is not installed")
    work = tmp_path_factory.mktemp("checkout")
    for entry in ROOT.iterdir():
        if entry.name not in {"data", ".git"}:
            (work / entry.name).symlink_to(entry)
    if not (work / ".venv").exists():
        (work / ".venv").mkdir()
        (work / ".venv" / "bin").mkdir()
        (work / ".venv" / "bin" / "python").symlink_to(sys.executable)
    env = app_env(ONEX_AUDIT_SEAL_SECONDS="0")
    for command in (["migrate"], ["demo"]):
        done = run_app(command, env, cwd=work, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    with serving(env, cwd=work) as url:
        env["DOC_PORT"] = url.rsplit(":", 1)[1]
        yield work, env


def test_the_docs_have_blocks_to_run_and_every_skip_still_matches() -> None:
    blocks = _blocks()
    assert sum(_runs(block) for _, _, block in blocks) >= 6
    for key in NOT_RUN:
        assert any(key in block for _, _, block in blocks), f"no block contains {key!r} any more"


@pytest.mark.parametrize(
    ("doc", "number", "block"),
    [pytest.param(*found, id=f"{found[0]}#{found[1]}") for found in _blocks() if _runs(found[2])],
)
def test_a_documented_block_runs_as_written(
    workdir: tuple[Path, dict[str, str]], doc: str, number: int, block: str
) -> None:
    work, env = workdir
    lines = [line for line in block.splitlines() if not SKIPPED_LINES.search(line)]
    script = "\n".join(lines).replace("127.0.0.1:8000", f"127.0.0.1:{env['DOC_PORT']}")
    prelude = 'curl() { command curl --fail-with-body --show-error "$@"; }\n'
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", prelude + script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{doc} block {number} failed:\n{done.stdout}\n{done.stderr}"
