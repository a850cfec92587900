import sys

from diss.cli import main

sys.exit(main())
