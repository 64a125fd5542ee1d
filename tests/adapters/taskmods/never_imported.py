"""A module that must never be imported: the allow-list refuses it before any import.

Tests check ``sys.modules`` for it; importing it fails loudly so an import cannot go unseen.
"""

raise RuntimeError("tests.adapters.taskmods.never_imported was imported; refusals must not import")
