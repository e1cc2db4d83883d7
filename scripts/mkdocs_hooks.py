"""MkDocs hooks (mkdocs.yml `hooks:`): the CLI reference is generated from the parsers themselves, so it
cannot drift from `digitrec --help`. A page holding the line `<!-- digitrec-cli -->` gets every command's
help in its place."""

from __future__ import annotations

import argparse
import os
from typing import Any

MARKER = "<!-- digitrec-cli -->"
WIDTH = "100"  # argparse wraps to $COLUMNS: fixed, so the page is the same on every machine


def cli_reference() -> str:
    os.environ["COLUMNS"] = WIDTH
    from digitrec.cli import build_parser

    parser = build_parser()
    parts = ["## digitrec", "", "```text", parser.format_help().rstrip(), "```", ""]
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        parts += [f"## digitrec {name}", "", "```text", command.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    return markdown.replace(MARKER, cli_reference()) if MARKER in markdown else markdown
