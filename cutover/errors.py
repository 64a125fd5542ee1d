"""The exceptions, at their historical import path: they live in :mod:`ground.errors`.

``from cutover.errors import EngineError`` keeps working for code written before the ground
package existed; new code in any layer imports :mod:`ground.errors`.
"""

from __future__ import annotations

from ground.errors import *  # noqa: F403 - a re-export of the whole public hierarchy
from ground.errors import __all__ as __all__
