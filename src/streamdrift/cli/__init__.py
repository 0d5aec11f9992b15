"""The ``streamdrift`` command line.

Subcommands live in their own modules under ``streamdrift.cli`` and are imported lazily, so
``streamdrift --help`` stays fast and a subcommand's heavy imports (Kafka, pyarrow) load only when used.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from streamdrift import __version__

# command name -> (module, attribute). Each module defines one click command or group.
_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "baseline": ("streamdrift.cli.baseline", "baseline"),
    "sagemaker": ("streamdrift.cli.sagemaker", "sagemaker"),
    "check": ("streamdrift.cli.check", "check"),
    "run": ("streamdrift.cli.run", "run"),
    "topics": ("streamdrift.cli.topics", "topics"),
    "demo": ("streamdrift.cli.demo", "demo"),
    "report": ("streamdrift.cli.report", "report"),
    "broker": ("streamdrift.cli.broker", "broker"),
    "sources": ("streamdrift.cli.sources", "sources"),
    "history": ("streamdrift.cli.history", "history"),
    "reevaluate": ("streamdrift.cli.reevaluate", "reevaluate"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(name for name, (module, _) in _SUBCOMMANDS.items() if importlib.util.find_spec(module))
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _SUBCOMMANDS:
            module_name, attr = _SUBCOMMANDS[cmd_name]
            if importlib.util.find_spec(module_name) is None:
                return None
            command = getattr(importlib.import_module(module_name), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module_name}.{attr} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="streamdrift")
def main() -> None:
    """Real-time drift, data-quality, model-quality, bias and attribution monitoring of ML models on Kafka."""


def entry_point() -> None:
    """The console script: run the CLI, then leave without the interpreter's module teardown.

    datasketches' nanobind bindings print "leaked instances" warnings when sketch objects are still referenced
    while the interpreter tears its modules down (a reader generator kept by pyarrow holds the last window
    for instance). Every command has flushed and closed what it opened when it returns, so after a garbage
    collection and a flush of the standard streams and the logs, the process exits at once.
    """
    import gc
    import logging
    import os
    import sys

    code: int | str | None = 0
    try:
        main()
    except SystemExit as exc:  # click's standalone mode always exits; the traceback holds the command's frames
        code = exc.code
    gc.collect()
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
