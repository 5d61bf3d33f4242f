"""A milvus-lite server on this machine, for tests, benchmarks and trying the Milvus store."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rag.stores.milvus import SCHEME, StoreError


class LiteServer:
    """A milvus-lite gRPC server on 127.0.0.1 in a child process (`milvus-lite server`), for
    tests, benchmarks and trying the Milvus store on one machine; stopped on exit."""

    def __init__(self, data_dir: str | Path, port: int = 19530, start_timeout: float = 60.0) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.start_timeout = start_timeout
        self.proc: Any = None

    def url(self, collection: str) -> str:
        return f"{SCHEME}://127.0.0.1:{self.port}/{collection}"

    def start(self) -> "LiteServer":
        import shutil
        import socket
        import subprocess
        import sys

        exe = Path(sys.executable).with_name("milvus-lite")
        cmd = [str(exe)] if exe.exists() else [shutil.which("milvus-lite") or "milvus-lite"]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")
        try:
            self.proc = subprocess.Popen([*cmd, "server", "--data-dir", str(self.data_dir), "--host",
                                          "127.0.0.1", "--port", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise StoreError(f"cannot start milvus-lite ({exc}); install the extra: pip install \".[scale]\"") from exc
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise StoreError(f"milvus-lite exited with code {self.proc.returncode}; "
                                 f"see {self.data_dir / 'server.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise StoreError(f"milvus-lite did not listen on port {self.port} within "
                                     f"{self.start_timeout:.0f}s")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:  # noqa: BLE001 - a server that ignores SIGTERM is killed
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> "LiteServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
