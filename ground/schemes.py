"""One URL-scheme dispatcher for everything cutover opens from a URL.

Flag stores, shadow recorders and dead-letter stores are each chosen by the scheme of a URL
(``redis://``, ``file://``, ``amqp://``...). :class:`SchemeTable` is that choice, written
once: a table from scheme to ``"module:name"``, the chosen module imported only when its
scheme is asked for (so ``import compat`` does not import redis-py or kombu), and one clear
:class:`~ground.errors.ConfigurationError` for an unknown scheme, the password masked.

A new backend is one line in its table (``flags.stores._STORES``,
``compat.shadow.recorders._RECORDERS``, ``adapters.celery.dlq._BACKENDS``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ground.errors import ConfigurationError
from ground.logs import mask_url


def scheme_of(url: str) -> str:
    """The scheme of ``url``, lower-cased (``""`` when it has none)."""
    return urlsplit(url).scheme.lower()


class SchemeTable:
    """Scheme -> implementation (``"module:name"`` or ``"module:Class.factory"``), resolved on
    first use; the implementation is called with the URL.

    ``what`` names the thing in errors ("flag store URL"); ``setting`` (optional) names the
    environment variable the URL usually comes from, so the error says where to fix it.
    """

    def __init__(self, what: str, targets: Mapping[str, str], *, setting: str = "") -> None:
        for scheme, target in targets.items():
            module_name, _, name = target.partition(":")
            if scheme != scheme.lower() or not (module_name and name):
                raise ValueError(f"{what}: bad table entry {scheme!r} -> {target!r}")
        self.what = what
        self.setting = setting
        self._targets = dict(targets)

    @property
    def schemes(self) -> tuple[str, ...]:
        """The schemes this table knows, in the order they were given."""
        return tuple(self._targets)

    def expected(self) -> str:
        """``redis://, rediss:// or file://``: the known schemes, for messages."""
        shown = [f"{scheme}://" for scheme in self._targets]
        return ", ".join(shown[:-1]) + f" or {shown[-1]}" if len(shown) > 1 else shown[0]

    def resolve(self, url: str) -> Any:
        """The implementation for ``url``'s scheme (its module imported now).

        An unknown scheme is a :class:`ConfigurationError` naming the masked URL, the setting
        it came from and the schemes that would work.
        """
        scheme = scheme_of(url)
        target = self._targets.get(scheme)
        if target is None:
            where = f" ({self.setting})" if self.setting else ""
            raise ConfigurationError(
                f"{self.what} {mask_url(url)!r}{where}: unknown scheme {scheme!r}; "
                f"expected {self.expected()}"
            )
        module_name, _, name = target.partition(":")
        found: Any = importlib.import_module(module_name)
        for attribute in name.split("."):  # "Class.factory" names a classmethod
            found = getattr(found, attribute)
        return found


__all__ = ["SchemeTable", "scheme_of"]
