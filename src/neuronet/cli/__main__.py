"""``python -m neuronet.cli``: the same as the ``neuronet`` command."""

import sys

from . import main

sys.exit(main())
