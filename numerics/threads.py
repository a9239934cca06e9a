"""Thread control for small tensor work.

Tiny or batched-small tensor operations gain nothing from intra-op threads, and on a
busy CPU the extra threads contend (measured 10–60× slower with 2 threads under load).
"""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def one_thread():
    """Run the enclosed torch work on one intra-op thread; the previous count is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
