"""``python -m cutover`` runs the command line."""

from __future__ import annotations

import sys

from cutover.cli import main

sys.exit(main())
