"""gRPC helpers for the black-box tests: stubs generated from the repository's .proto files at test time
(with grpcio-tools, so the tests check the committed .proto, not a copy), and a hub serving gRPC (on its
one port, or on an extra --grpc-port)."""

import importlib
import os
import pathlib
import queue
import socket
import subprocess
import sys
import tempfile
import threading

from conftest import BINARY, ROOT, stop_process

PROTOS = ROOT / "Sources" / "NewsroomProto" / "Protos"
GRPC_LINE = "newsroom: grpc listening on "


def generate_stubs():
    """Compiles newsroom.proto and health.proto into a temporary directory and imports the modules.

    Returns a namespace with `pb` (messages), `rpc` (the Newsroom stub), `health_pb` and `health_rpc`.
    health.proto is compiled from its own directory, so its module is the top-level `health_pb2`: a
    `grpc/health/...` module path would collide with grpcio's own `grpc` package.
    """
    out = pathlib.Path(tempfile.mkdtemp(prefix="newsroom-grpc-stubs-"))
    for include, proto in [(PROTOS, "newsroom/v1/newsroom.proto"), (PROTOS / "grpc" / "health" / "v1", "health.proto")]:
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", f"-I{include}", f"--python_out={out}",
             f"--grpc_python_out={out}", proto],
            check=True, capture_output=True, text=True,
        )
    sys.path.insert(0, str(out))
    importlib.invalidate_caches()

    class Stubs:
        pb = importlib.import_module("newsroom.v1.newsroom_pb2")
        rpc = importlib.import_module("newsroom.v1.newsroom_pb2_grpc")
        health_pb = importlib.import_module("health_pb2")
        health_rpc = importlib.import_module("health_pb2_grpc")

    return Stubs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GRPCHub:
    """A running `newsroom serve` with its URL (`url`) and where it serves gRPC (`grpc_target`, from the
    hub's `grpc listening on` line): the same port as `url` unless `extra_port` asks for a --grpc-port."""

    def __init__(self, args=(), env=None, timeout=30.0, extra_port=False):
        full_env = dict(os.environ)
        full_env.update(env or {})
        extra = ["--grpc-port", str(free_port())] if extra_port else []
        self.proc = subprocess.Popen(
            [str(BINARY), "serve", "--port", "0", *extra, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, text=True,
        )
        lines = queue.Queue()

        def pump():
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        self.url = None
        self.grpc_target = None
        self.output = []
        while self.url is None or self.grpc_target is None:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                line = None
            if line is None:
                self.proc.kill()
                raise RuntimeError(f"hub did not start: {self.output!r} {self.proc.stderr.read()}")
            self.output.append(line)
            if line.startswith(GRPC_LINE):
                self.grpc_target = line[len(GRPC_LINE):].strip()
            elif "listening on http" in line:
                self.url = line.strip().split("listening on ")[1]

    def stop(self, timeout=15):
        return stop_process(self.proc, timeout=timeout)
