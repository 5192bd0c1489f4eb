"""``python -m usage_async.sync {sync,query} ...``: the commands without the main CLI."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
