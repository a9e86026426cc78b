"""`make lab`'s launcher (tools/lab.py): port choice, the message for a busy port, the command it runs, and the
Makefile line that calls it. JupyterLab itself is not started here (tests/browser/test_lab.py does that)."""
import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("lab_launcher", ROOT / "tools" / "lab.py")
lab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab)


@pytest.fixture
def busy_port():
    """A port on 127.0.0.1 with a server listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_free_port_is_kept():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert lab.port_is_free(port)
    assert lab.choose_port(port) == port


def test_a_busy_port_is_replaced_by_a_later_free_one(busy_port):
    assert not lab.port_is_free(busy_port)
    chosen = lab.choose_port(busy_port)
    assert busy_port < chosen <= busy_port + 50 and lab.port_is_free(chosen)


def test_bad_ports_are_refused():
    for port in (0, 70000):
        with pytest.raises(ValueError, match="between 1 and 65535"):
            lab.choose_port(port)


def test_main_names_the_busy_port_and_starts_lab_on_another(busy_port, tmp_path, monkeypatch, capsys):
    started = []

    def fake_exec(path, args):
        started.append(args)
        raise SystemExit(0)

    monkeypatch.setattr(lab.os, "execv", fake_exec)
    monkeypatch.setenv("JUPYTER_TOKEN", "abc123")
    with pytest.raises(SystemExit):
        lab.main(["--no-browser", "--port", str(busy_port), str(tmp_path)])
    out = capsys.readouterr().out
    chosen = lab.choose_port(busy_port)
    assert f"Port {busy_port} is busy" in out and f"using port {chosen} instead" in out
    assert f"Open http://127.0.0.1:{chosen}/lab?token=abc123" in out
    command = started[0]
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.port={chosen}" in command and "--ServerApp.port_retries=0" in command
    assert f"--ServerApp.root_dir={tmp_path.resolve()}" in command and "--no-browser" in command


def test_main_refuses_a_missing_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        lab.main(["--port", "8888", str(tmp_path / "nowhere")])
    assert "no folder" in capsys.readouterr().err


def test_make_lab_runs_the_launcher_with_progress_bars():
    """`make lab` starts tools/lab.py on book/ with the .venv Python, bars on unless MTL_PROGRESS is given."""
    env = {k: v for k, v in os.environ.items() if k not in ("MTL_PROGRESS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    dry = subprocess.run(["make", "-n", "lab", "LAB_PORT=9123"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert re.search(r"^MTL_PROGRESS=1 \S+/bin/python tools/lab\.py --port 9123 book$", dry.stdout, re.M), dry.stdout
    dry = subprocess.run(["make", "-n", "lab", "MTL_PROGRESS=0"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert re.search(r"^MTL_PROGRESS=0 \S+/bin/python tools/lab\.py --port 8888 book$", dry.stdout, re.M), dry.stdout
