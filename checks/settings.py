"""Run settings shared by the CLI and the pytest plugin."""
from __future__ import annotations

import os


def check_device(device: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N``; ValueError naming ``device`` otherwise."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be cpu, cuda or cuda:N, got {device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu, cuda or cuda:N, got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but no CUDA device is available")
    return str(dev)


def settings_from_env() -> dict:
    seed = os.environ.get("DLTV_SEED", "").strip()
    try:
        seed_value = int(seed) if seed else None
    except ValueError:
        raise ValueError(f"DLTV_SEED must be an integer, got {seed!r}") from None
    return {
        "full": os.environ.get("DLTV_FULL", "").strip() not in ("", "0", "false", "no"),
        "device": check_device(os.environ.get("DLTV_DEVICE", "cpu").strip() or "cpu"),
        "seed": seed_value,
        "reports": os.environ.get("DLTV_REPORTS") or None,
    }
