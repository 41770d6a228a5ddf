"""What the benchmark scripts share: a free port, and a moto server on 127.0.0.1."""

import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto():
    """Starts `moto_server` from this interpreter's environment on a free port and waits until
    it accepts connections; returns (process, port). Exits if it does not start in 30 s."""
    port = free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return moto, port
        except OSError:
            if time.time() > deadline or moto.poll() is not None:
                moto.kill()
                sys.exit("moto_server did not start")
            time.sleep(0.1)
