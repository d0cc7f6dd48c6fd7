"""An S3-protocol server on loopback for the artifact tests: moto's server mode.

Why moto: it installs from the Python registry (``moto[server]``) and serves the S3 HTTP
protocol from a subprocess, so the tests go through the real s3fs, aiobotocore and
botocore stack as they would against S3, with no network, no Docker and no binary to
download (a MinIO server would need one). Its state is in memory: a restart on the same
port is an empty server, and tests recreate their bucket.

Under ``CI=true`` a server that cannot start fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import IN_CI
from .server_helpers import free_port

#: Credentials of the test server; the leak tests look for them everywhere.
ACCESS_KEY = "AKIATESTKEYQ4Z7"
SECRET_KEY = "s3cret-Key-V8n3-do-not-leak"


def _moto_command(port: int) -> list[str]:
    script = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if script is None:
        raise RuntimeError("moto_server is not installed: pip install 'moto[server]'")
    return [script, "-H", "127.0.0.1", "-p", str(port)]


@dataclass
class MotoServer:
    """A ``moto_server`` subprocess on a loopback port, with one bucket."""

    log_dir: Path
    port: int = field(default_factory=free_port)
    bucket: str = field(default_factory=lambda: f"tracker-{uuid.uuid4().hex[:8]}")
    proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What s3fs (botocore) reads to reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self, timeout: float = 90.0) -> MotoServer:
        log = (self.log_dir / f"moto-{self.port}.log").open("ab")
        self.proc = subprocess.Popen(
            _moto_command(self.port), stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.endpoint, timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"moto_server did not answer within {timeout} s")
        self.create_bucket()
        return self

    def create_bucket(self) -> None:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        client.create_bucket(Bucket=self.bucket)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def url(self, prefix: str = "artifacts") -> str:
        return f"s3://{self.bucket}/{prefix}"


def start_or_skip(log_dir: Path) -> MotoServer:
    """A started server; skips when moto is missing (fails under CI)."""
    try:
        return MotoServer(log_dir).start()
    except Exception as exc:  # no moto, or it would not start
        reason = f"cannot start the S3-protocol test server (moto): {exc}"
        if IN_CI:
            pytest.fail(f"CI must run the S3 artifact tests: {reason}")
        pytest.skip(reason)
