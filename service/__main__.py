"""``python -m service serve``."""

import sys

from .cli import main

sys.exit(main())
