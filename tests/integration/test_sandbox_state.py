"""The sandbox's run-time files (throwaway CA, server certificate) stay out of the working tree."""

from __future__ import annotations

import socket
import stat
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox.server import SandboxServer
from sandbox.state import default_tls_dir, state_dir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_state_folder_follows_xdg_with_or_without_platformdirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    if sys.platform.startswith("linux"):
        assert state_dir() == tmp_path / "state" / "leadrelay"
    monkeypatch.setitem(sys.modules, "platformdirs", None)  # as if it were not installed
    assert state_dir() == tmp_path / "state" / "leadrelay"
    assert default_tls_dir() == tmp_path / "state" / "leadrelay" / "sandbox-tls"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert state_dir() == tmp_path / "home" / ".local" / "state" / "leadrelay"


def test_leadrelay_sandbox_writes_its_ca_to_the_state_folder_not_the_working_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadrelay.cli import app

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    started: list[SandboxServer] = []

    def once(server: SandboxServer) -> None:  # instead of serving until Ctrl-C
        started.append(server.start())
        server.stop()

    monkeypatch.setattr(SandboxServer, "serve_forever", once)
    result = CliRunner().invoke(app, ["sandbox", "--port", str(_free_port())])
    assert result.exit_code == 0, result.output
    tls = tmp_path / "state" / "leadrelay" / "sandbox-tls"
    assert started and started[0].tls_dir == tls
    assert (tls / "ca.pem").is_file() and (tls / "server.pem").is_file()  # kept: clients are pointed at ca.pem
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700  # the folder holds the server's private key
    assert list(work.iterdir()) == []  # nothing in the working tree (no .leadrelay/)


def test_a_sandbox_without_a_named_folder_cleans_up_after_itself() -> None:
    with SandboxServer() as s:
        folder = s.tls_dir
        assert (folder / "ca.pem").is_file()
    assert not folder.exists()


def test_a_named_folder_is_left_in_place(tmp_path: Path) -> None:
    with SandboxServer(tls_dir=tmp_path / "tls") as s:
        ca = s.ca_path
    assert ca.is_file()
