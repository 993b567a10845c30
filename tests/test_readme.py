"""The README works as written (issue 15 part 8): its "Try it" session, run with curl
against a real daemon, ends with the invited friend talking in the channel; and the test
command leaves the README's run environment alone."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from together_server.daemon import Running

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def try_it_block() -> str:
    section = README.split("## Try it", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_try_it_session_runs_and_the_friend_joins(shared: Running) -> None:
    script = try_it_block().replace("localhost:8080", f"127.0.0.1:{shared.port}")
    assert "/invites/$CODE/accept" in script
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert '"message":"Joined server"' in r.stdout
    assert '"content":"hi alice, I brought it"' in r.stdout  # bob, now a member, could post
    assert '"error":' not in r.stdout  # no error body anywhere


def test_test_command_uses_its_own_environment() -> None:
    """`bash .ci/run` must not reinstall into the `.venv` the README runs the server from
    (an editable reinstall there broke a running server's /docs)."""
    run = (ROOT / ".ci" / "run").read_text()
    run_cmd = re.search(r"```sh\n(python3 -m venv (\S+) .*?)\n```", README.split("## Run it", 1)[1], re.S)
    assert run_cmd is not None
    server_venv = run_cmd.group(2)
    venvs = set(re.findall(r"python3 -m venv (\S+)", run))
    assert venvs and server_venv not in venvs
    for venv in venvs:
        assert f"{venv}/" in (ROOT / ".gitignore").read_text()
        assert f"`{venv}`" in README
    assert not re.search(rf"(^|\s){re.escape(server_venv)}/bin/", run, re.M)
