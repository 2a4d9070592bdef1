"""Shared helpers for the Python end-to-end tests (run with Debian's /usr/bin/python3).

Starts the real server binary on a free loopback port, generates Python message
modules from .proto files with the system protoc, and counts failed checks.

The server gets a fresh database of the backend under test: a file, or with
AW_TEST_BACKEND=postgres a new database on the test fixture's PostgreSQL
(tests/pg/pg_fixture.sh; AW_TEST_PG_DIR/port holds its port), made and dropped
with psql, as tests/test_db.c does in C.
"""
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import grpc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_module(name, path):
    """Imports a generated module by path under `name`, so that grpc-proto's
    grpc/... files do not collide with the grpc package."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def generate(out_dir, import_dirs, proto):
    """Runs protoc --python_out for `proto` and loads the result."""
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run(["protoc"] + [f"-I{d}" for d in import_dirs] + [f"--python_out={out_dir}", proto],
                   check=True)
    path = os.path.join(out_dir, proto[:-len(".proto")] + "_pb2.py")
    return load_module(proto.replace("/", "_").replace(".", "_"), path)


PSQL = "/usr/lib/postgresql/15/bin/psql"


def _pg_port():
    pg_dir = os.environ.get("AW_TEST_PG_DIR")
    if not pg_dir:
        raise RuntimeError("AW_TEST_BACKEND=postgres but AW_TEST_PG_DIR is not set (run through ctest)")
    with open(os.path.join(pg_dir, "port")) as f:
        return int(f.read().strip())


def _psql(port, sql):
    subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(port),
                    "-U", "aniworld", "-d", "postgres", "-c", sql], check=True)


def new_database(work):
    """A fresh database: (location for --db, a function that removes it)."""
    if os.environ.get("AW_TEST_BACKEND") != "postgres":
        return os.path.join(work, "py.db"), lambda: None
    port = _pg_port()
    name = f"aw_py{os.getpid()}_{int(time.time() * 1000)}"
    _psql(port, f"CREATE DATABASE {name}")
    return (f"postgresql://aniworld@127.0.0.1:{port}/{name}",
            lambda: _psql(port, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


class Server:
    """The real server binary on a fresh database, stopped with SIGTERM."""

    def __init__(self, binary, extra_args=(), env=None):
        self.work = tempfile.mkdtemp(prefix="aw-py-")
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.work, "server.log"), "w+")
        self.db, self.drop_db = new_database(self.work)
        self.proc = subprocess.Popen(
            [binary, "--listen", self.target, "--db", self.db,
             "--log-level", "warn"] + list(extra_args),
            stderr=self.log, env=env)

    def wait_ready(self, channel, timeout=20):
        """Waits for the channel; fails at once when the server has exited."""
        deadline = time.monotonic() + timeout
        future = grpc.channel_ready_future(channel)
        while True:
            try:
                future.result(timeout=0.2)
                return
            except grpc.FutureTimeoutError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.proc.returncode} at start")
                if time.monotonic() > deadline:
                    raise

    def stop(self):
        """SIGTERM, then the exit code (0 expected; under ASan, leaks make it non-zero)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -1
        self.log.seek(0)
        text = self.log.read()
        self.log_text = text
        if rc != 0:
            sys.stderr.write(text)
        self.log.close()
        subprocess.run(["rm", "-rf", self.work])
        self.drop_db()
        return rc


class Checker:
    def __init__(self):
        self.failures = 0

    def check(self, cond, what):
        if not cond:
            self.failures += 1
            print("FAIL:", what, file=sys.stderr)
        return cond

    def status(self, fn, code, needle, what):
        try:
            fn()
        except grpc.RpcError as e:
            self.check(e.code() == code, f"{what}: expected {code}, got {e.code()} ({e.details()})")
            if needle:
                self.check(needle in (e.details() or ""), f"{what}: '{needle}' not in '{e.details()}'")
            return
        self.check(False, f"{what}: expected {code}, call succeeded")

    def result(self, name):
        if self.failures:
            print(f"{name}: {self.failures} check(s) failed", file=sys.stderr)
            return 1
        print(f"{name}: all checks passed")
        return 0
