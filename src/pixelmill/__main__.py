import sys

from pixelmill.cli import main

sys.exit(main())
