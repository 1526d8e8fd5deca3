"""``python -m trio_heartbeat URL``: see :mod:`trio_heartbeat.cli`."""

import sys

from trio_heartbeat.cli import main

if __name__ == "__main__":
    sys.exit(main())
