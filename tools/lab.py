"""Start JupyterLab on the book's chapters with this environment's kernel (``make lab``).

The server and its ``python3`` kernel are the Python that runs this script, the one where ``mtl_utils`` is
installed (inside a virtual environment, Jupyter prefers that environment's kernel spec to one the user registered).
JupyterLab listens on 127.0.0.1 at the port asked for (8888 by default); if that port is busy, the script says so
and takes the next free one. It prints the URL to open, with the access token (``$JUPYTER_TOKEN`` if set, otherwise
a new random one).
"""
from __future__ import annotations

import argparse
import errno
import os
import secrets
import socket
import sys
from pathlib import Path

HOST = "127.0.0.1"


def port_is_free(port: int, host: str = HOST) -> bool:
    """True if a server could listen on ``host:port`` now (bound the way Jupyter's server binds, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def choose_port(wanted: int, tries: int = 50, host: str = HOST) -> int:
    """``wanted`` if it is free, else the first free port among the next ``tries``; an error names the busy range."""
    if not 1 <= wanted <= 65535:
        raise ValueError(f"port must be between 1 and 65535, got {wanted}")
    for port in range(wanted, min(wanted + tries, 65535) + 1):
        if port_is_free(port, host):
            return port
    raise RuntimeError(f"ports {wanted}-{min(wanted + tries, 65535)} on {host} are all busy; "
                       f"choose another with `make lab LAB_PORT=<port>`")


def lab_command(folder: Path, port: int, browser: bool) -> list[str]:
    """The ``jupyter lab`` command line: this Python, ``folder`` as the root, ``port`` only (no silent retries)."""
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}", f"--ServerApp.ip={HOST}",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               "--ServerApp.log_level=WARN"]  # the URL printed above stays in view; warnings and errors still show
    if os.name == "posix" and os.geteuid() == 0:
        command.append("--allow-root")  # as in a container; the server only listens on 127.0.0.1, with a token
    return command + ([] if browser else ["--no-browser"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", default=Path("book"), help="root folder (default: book)")
    parser.add_argument("--port", type=int, default=8888, help="port to try first (default: 8888)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"no folder {args.folder}")
    try:
        port = choose_port(args.port)
    except (ValueError, RuntimeError) as err:
        parser.error(str(err))
    if port != args.port:
        print(f"Port {args.port} is busy (another program listens on it); using port {port} instead.", flush=True)
    token = os.environ.setdefault("JUPYTER_TOKEN", secrets.token_hex(24))
    print(f"JupyterLab on {args.folder.resolve()} with the kernel {sys.executable}\n"
          f"Open http://{HOST}:{port}/lab?token={token}\n(Ctrl-C twice to stop)", flush=True)
    command = lab_command(args.folder.resolve(), port, browser=not args.no_browser)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
