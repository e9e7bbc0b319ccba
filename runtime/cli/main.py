"""The ``impasto`` command: one subcommand per module of this package.

User mistakes end as one ``impasto: error: …`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from impasto.runtime.cli.args import EXIT_USER_ERROR, Parser
from impasto.runtime.cli.batch import add_batch
from impasto.runtime.cli.bench import add_bench
from impasto.runtime.cli.export import add_export
from impasto.runtime.cli.info import add_info
from impasto.runtime.cli.models import add_models
from impasto.runtime.cli.optimize import add_optimize
from impasto.runtime.cli.serve import add_serve
from impasto.runtime.cli.sheet import add_sheet
from impasto.runtime.cli.stylize import add_stylize
from impasto.runtime.cli.train import add_train
from impasto.runtime.cli.video import add_video
from impasto.runtime.cli.webcam import add_webcam
from impasto.runtime.core.errors import ImpastoError


def build_parser() -> argparse.ArgumentParser:
    from impasto.runtime import __version__

    parser = Parser(prog="impasto", description="Neural style transfer on onnxruntime.")
    parser.add_argument("--version", action="version", version=f"impasto {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in (add_stylize, add_video, add_webcam, add_optimize, add_bench, add_serve, add_batch, add_train,
                add_export, add_models, add_info, add_sheet):  # fmt: skip
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ImpastoError as error:
        print(f"impasto: error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as interrupt:  # a command that kept its work says so in the message (train)
        print(f"impasto: {str(interrupt) or 'interrupted'}", file=sys.stderr)
        return 130
    except MemoryError:
        print("impasto: error: out of memory; try a smaller --size", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # `impasto stylize - -o - | head` and the like: the reader left
        return 0
    except Exception as error:
        if type(error).__module__.startswith("onnxruntime") and "alloc" in str(error).lower():
            print("impasto: error: out of memory (onnxruntime could not allocate); try a smaller --size",
                  file=sys.stderr)  # fmt: skip
            return EXIT_USER_ERROR
        raise


if __name__ == "__main__":
    sys.exit(main())
