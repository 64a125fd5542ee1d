"""The CLI's assembly and its one table renderer."""

from __future__ import annotations

import pytest

import cutover.cli
from cutover.cli.output import format_table


def test_a_missing_command_module_stops_the_cli_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command module that is not there must fail the CLI, not silently drop the command
    (an install without ``rollback`` would look healthy until someone needs it)."""
    modules = (*cutover.cli._COMMAND_MODULES, "cutover.cli.no_such_cmd")
    monkeypatch.setattr(cutover.cli, "_COMMAND_MODULES", modules)
    with pytest.raises(ModuleNotFoundError, match=r"cutover\.cli\.no_such_cmd"):
        cutover.cli.build_parser()


def test_every_command_module_registers_its_command() -> None:
    """Each listed module is imported and contributes its sub-command."""
    parser = cutover.cli.build_parser()
    help_text = parser.format_help()
    for command in ("flags", "worker", "dlq", "guard", "report", "bench", "demo"):
        assert command in help_text


def test_tables_pad_columns_to_the_widest_cell_without_trailing_blanks() -> None:
    """``flags list`` and ``dlq list`` print through this one renderer: columns line up and
    no line ends in spaces (so ``awk`` and copy-paste see the same cells)."""
    lines = format_table(["ID", "NAME"], [["1", "billing"], ["10", "x"]])
    assert ["ID  NAME", "1   billing", "10  x"] == lines
