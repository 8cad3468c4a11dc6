"""The `spansift` command line."""

from __future__ import annotations

import click

from spansift import __version__
from spansift.cli._decide import (
    ack,
    assign,
    grant,
    reopen,
    resolve,
    resume,
    suppress,
    suspend,
)
from spansift.cli._evidence import checkpoint, verify
from spansift.cli._export import export
from spansift.cli._group import Main
from spansift.cli._ingest import ingest
from spansift.cli._log import ls, query, stats
from spansift.cli._rederive import rederive_command
from spansift.cli._review import grants_report, notify, review, suggest
from spansift.cli._serve import serve
from spansift.cli._show import show
from spansift.cli.rules_cmd import rules


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spansift")
def main() -> None:
    """spansift keeps the exception log of AI agents from their OpenTelemetry traces."""


main.add_command(ingest)
main.add_command(rederive_command)
main.add_command(ls)
main.add_command(query)
main.add_command(stats)
main.add_command(rules)
main.add_command(serve)
main.add_command(export)
main.add_command(show)
main.add_command(verify)
main.add_command(checkpoint)
for command in (
    ack, resolve, suppress, reopen, assign, grant, grants_report, suspend, resume, review, suggest,
    notify,
):  # fmt: skip
    main.add_command(command)
