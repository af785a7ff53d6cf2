"""`tresen kb import | export`: articles to and from a folder of Markdown, JSON or CSV."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from knowledge_base.transfer import TransferError, export_articles, import_articles, read

COMMAND = "kb"


def add_commands(commands) -> None:
    kb = commands.add_parser(COMMAND, help="the knowledge base: import and export articles")
    actions = kb.add_subparsers(dest="action", required=True, parser_class=kb.__class__)
    into = actions.add_parser("import", help="articles from a folder of .md, a .json or a .csv")
    into.add_argument("path", type=Path)
    into.add_argument(
        "--language", default="de", choices=("de", "en"), help="for CSV rows without one"
    )
    into.add_argument(
        "--visibility",
        default="public",
        choices=("draft", "internal", "public"),
        help="for CSV rows (folder and JSON carry their own)",
    )
    out = actions.add_parser("export", help="every article to a folder, a .json or a .csv")
    out.add_argument("path", type=Path)


def run(args, settings, with_runtime) -> int:
    if args.action == "export":
        count = asyncio.run(with_runtime(settings, lambda rt: export_articles(rt, args.path)))
        print(f"exported {count} articles to {args.path}")
        return 0
    try:
        rows = read(args.path, language=args.language, visibility=args.visibility)
    except TransferError as error:
        print(f"tresen: error: {error}", file=sys.stderr)
        return 2

    def progress(done: int, total: int) -> None:
        if total > 200:
            print(f"  {done}/{total}", file=sys.stderr, flush=True)

    report = asyncio.run(
        with_runtime(settings, lambda rt: import_articles(rt, rows, progress=progress))
    )
    for where, why in report.rejected:
        print(f"rejected {where}: {why}", file=sys.stderr)
    print(
        f"imported {len(rows)} rows: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected"
    )
    return 1 if report.rejected else 0
