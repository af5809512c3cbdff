"""``python -m vlmfer`` is the same as the ``vlmfer`` command."""

import sys

from vlmfer.cli import main

sys.exit(main())
