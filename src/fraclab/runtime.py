"""What this machine offers a stage: the compute device, the CPU cores it may use, the network."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights were asked for but cannot be had (offline, missing, unreadable)."""


def reachable(host: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` on port 443 opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def available_cores() -> int:
    """CPU cores this process may use (respects affinity masks and container limits)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def select_device(preference: str = "auto", param: str = "device") -> torch.device:
    """CUDA, then Apple MPS, then CPU for ``auto``; otherwise exactly what was asked.

    ``param`` names the setting in the error raised when CUDA is asked for and absent.
    """
    import torch  # here, so that stages which never train (prepare) do not load it

    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{param} is cuda but no CUDA device is available")
    return torch.device(preference)


def make_deterministic(device: torch.device) -> None:
    """Ask torch for reproducible kernels on ``device``.

    On CUDA that needs more than on the CPU: cuBLAS's workspace must be fixed
    (``CUBLAS_WORKSPACE_CONFIG``, read when cuBLAS starts, so this must run before the first
    CUDA matrix product), cuDNN must not pick algorithms by timing them, and an operation
    with no deterministic CUDA kernel must fail rather than warn. On the CPU torch's kernels
    are deterministic for a fixed thread count; the few that are not only warn.
    """
    import torch

    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True)
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)


def git_revision(root: Path) -> str:
    """``HEAD``'s commit and whether the working tree differs from it, or why unknown."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True, timeout=30).stdout.strip()
        # Outputs of the running pipeline (metrics/, plots/) are expected to differ: only
        # tracked source and settings count as "uncommitted changes".
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                 ".", ":!metrics", ":!plots", ":!dvc.lock"], cwd=root,
                                capture_output=True, text=True, check=True,
                                timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{head[:12]}{' + uncommitted changes' if status else ''}"
