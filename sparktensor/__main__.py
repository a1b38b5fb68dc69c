"""``python -m sparktensor``: the ``sparktensor`` command."""
import sys

from .cli import main

sys.exit(main())
