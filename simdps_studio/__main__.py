"""``python -m simdps_studio`` runs the command-line interface."""

import sys

from simdps_studio.cli import main

sys.exit(main())
