import sys

from deploystatus.commands.main import main

sys.exit(main())
