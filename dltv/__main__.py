"""``python -m dltv``: the ``dltv`` command."""
import sys

from dltv.checks.cli import main

sys.exit(main())
