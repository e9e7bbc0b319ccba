"""``python -m impasto.runtime.cli``: the ``impasto`` command."""

import sys

from impasto.runtime.cli.main import main

sys.exit(main())
