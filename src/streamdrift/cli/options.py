"""Options shared by the commands that read input files. The ``--format`` choices come from the table of input
formats (:mod:`streamdrift.ingest.formats`, which loads without pyarrow)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from streamdrift.ingest.formats import DEFAULT_MAX_LINE_BYTES, format_names

F = TypeVar("F", bound=Callable[..., Any])


def input_format_choice(*, labels: bool = False) -> click.Choice[str]:
    """The ``--format`` choices: every input format (``labels``: those that can hold a labels table)."""
    return click.Choice(format_names(labels=labels))


def text_input_options(func: F) -> F:
    """``--encoding`` and ``--max-line-bytes`` of CSV / JSON Lines input."""
    func = click.option(
        "--encoding", default=None, metavar="NAME",
        help="Text encoding of a CSV / JSON Lines input (default UTF-8; e.g. latin-1, cp1252, utf-16). Without "
             "it, input that is not UTF-8 is refused.")(func)
    return click.option(
        "--max-line-bytes", type=click.IntRange(1), default=DEFAULT_MAX_LINE_BYTES, show_default=True,
        help="Longest input line (CSV record) read; a longer one is an error, never loaded whole.")(func)
