"""Tests that need a system binary skip with the install hint on a laptop without it, and fail under CI=true."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(path_or_name: str, hint: str) -> str:
    found = path_or_name if Path(path_or_name).is_file() else shutil.which(path_or_name)
    if found:
        return found
    message = f"{path_or_name} not found; install it with: {hint}"
    if in_ci():
        pytest.fail(message + " (CI=true: .ci/run must install it)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
