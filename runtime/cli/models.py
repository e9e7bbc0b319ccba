"""``impasto models``: what is shipped (and in the folders of ``IMPASTO_MODELS``), with checksums on request."""

from __future__ import annotations

import argparse

from impasto.runtime.cli.args import add_json, print_json
from impasto.runtime.core.errors import ImpastoError


def add_models(commands) -> None:
    parser = commands.add_parser("models", help="list the models (shipped, and in IMPASTO_MODELS folders)")
    parser.add_argument("--verify", action="store_true", help="check every file's SHA-256 against the manifest")
    add_json(parser)
    parser.set_defaults(run=run_models)


def run_models(args: argparse.Namespace) -> int:
    from impasto.runtime.core.registry import all_entries

    rows, bad = [], 0
    for entry in all_entries():
        row = {
            "name": entry.name, "kind": entry.kind, "summary": entry.summary, "folder": str(entry.folder),
            "files": entry.files, "precisions": entry.precisions, "styles": entry.styles,
        }  # fmt: skip
        if args.verify:
            row["checksum_mismatches"] = entry.verify()
            bad += len(row["checksum_mismatches"])
        rows.append(row)
    if args.json:
        print_json({"models": rows})
    else:
        for row in rows:
            shipped = f" [{' '.join(row['precisions'])}]" if row["precisions"] else ""
            status = ""
            if args.verify:
                mismatched = row["checksum_mismatches"]
                status = "  checksums OK" if not mismatched else f"  CHECKSUM MISMATCH: {', '.join(mismatched)}"
            print(f"{row['name']:<24} {row['kind']:<12} {row['summary']}{shipped}{status}")
            if row["styles"]:  # each style is a model name of its own
                print(f"{'':<24} {'styles':<12} {', '.join(row['styles'])} (--model NAME, or blend: a:0.7,b:0.3)")
    if bad:
        raise ImpastoError(f"{bad} model file(s) do not match the manifest's checksums")
    return 0
