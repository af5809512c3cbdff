"""``python -m vlmfer.emulator`` serves the emulator (same options as ``vlmfer emulator``)."""

import sys

from vlmfer.emulator.cli import main

sys.exit(main())
