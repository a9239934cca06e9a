"""setuptools' PEP 517 backend, minus the ``build/`` folder it leaves in the source tree.

``pip install .`` builds a wheel in the source tree; setuptools stages it under
``build/`` and keeps that folder.  This backend removes what the build created,
and only that: a ``build/`` that was there before is left alone.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (the other hooks, unchanged)


def _without_new_build_dir(hook):
    def run(*args, **kwargs):
        staging = Path("build")
        existed = staging.exists()
        try:
            return hook(*args, **kwargs)
        finally:
            if not existed:
                shutil.rmtree(staging, ignore_errors=True)

    run.__name__ = hook.__name__
    run.__doc__ = hook.__doc__
    return run


build_wheel = _without_new_build_dir(_setuptools.build_wheel)
build_sdist = _without_new_build_dir(_setuptools.build_sdist)
