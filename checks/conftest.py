"""Collect ``checks/test_<area>.py`` as the installed ``dltv.checks.test_<area>``.

pytest would import each claim file under a name of its own; the claims would then
register twice, once under that name and once when :func:`load_claims` imports
``dltv.checks``.  Everything else (one test per claim, the report) comes from dltv's
pytest plugin, :mod:`dltv.checks.pytest_plugin`.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


class _ClaimModule(pytest.Module):
    def _getobj(self):
        return importlib.import_module(f"dltv.checks.{self.path.stem}")


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.resolve().parent == _HERE and module_path.name.startswith("test_"):
        return _ClaimModule.from_parent(parent, path=module_path)
    return None
