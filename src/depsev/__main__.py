"""``python -m depsev`` == the ``depsev`` command."""

import sys

from depsev.cli import main

sys.exit(main())
