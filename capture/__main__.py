import sys

from capture.cli.main import main

sys.exit(main())
