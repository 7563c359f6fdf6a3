import sys

from wyoming_xnai.cli import main

sys.exit(main())
