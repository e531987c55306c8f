import sys

from core.pipeline.cli import main

sys.exit(main())
