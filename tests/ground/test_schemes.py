"""The one URL-scheme dispatcher behind flag stores, shadow recorders and dead-letter stores."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ground.errors import ConfigurationError
from ground.schemes import SchemeTable
from tests.support.services import REPO_ROOT


def test_an_unknown_scheme_names_the_setting_the_choices_and_hides_the_password() -> None:
    """The operator who typed ``reddis://`` learns where the URL came from and what works,
    and the password never reaches the message (it ends up in logs)."""
    table = SchemeTable(
        "widget URL", {"redis": "json:loads", "file": "json:dumps"}, setting="CUTOVER_X"
    )
    with pytest.raises(ConfigurationError) as caught:
        table.resolve("reddis://:hunter2@localhost/0")
    message = str(caught.value)
    assert "unknown scheme 'reddis'" in message
    assert "(CUTOVER_X)" in message
    assert "expected redis:// or file://" in message
    assert "hunter2" not in message


def test_schemes_are_case_insensitive_and_targets_may_name_a_factory() -> None:
    """``REDIS://`` is ``redis://``; ``module:Class.factory`` resolves the classmethod."""
    table = SchemeTable("thing", {"redis": "json:JSONDecoder.decode"})
    import json

    assert json.JSONDecoder.decode is table.resolve("REDIS://x")


def test_a_bad_table_is_refused_when_it_is_written() -> None:
    """A typo in a table (no ``:`` between module and name) fails at import, not on the first
    URL in production."""
    with pytest.raises(ValueError, match="bad table entry"):
        SchemeTable("thing", {"redis": "json.loads"})


def test_choosing_a_backend_imports_only_that_backend() -> None:
    """Opening a file flag store and its recorder must not import redis-py: ``import compat``
    and a file-only set-up stay cheap (a fresh interpreter sees every import)."""
    code = (
        "import sys, tempfile, os\n"
        "from flags.stores import open_store\n"
        "from compat.shadow.recorders import open_recorder\n"
        "url = 'file://' + os.path.join(tempfile.mkdtemp(), 'flags.json')\n"
        "open_store(url).close(); open_recorder(url).close()\n"
        "print('redis' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert "False" == result.stdout.strip()
