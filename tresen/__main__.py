import sys

from tresen.cli import main

sys.exit(main())
