"""``python -m image_pipeline.cli``: the ``gallery`` command."""

import sys

from image_pipeline.cli.app import main

sys.exit(main())
