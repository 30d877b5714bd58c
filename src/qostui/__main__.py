import sys

from qostui.cli import main

sys.exit(main())
