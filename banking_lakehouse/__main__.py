"""Small operational commands: python -m banking_lakehouse stop-postgres"""

import sys

from banking_lakehouse import settings
from banking_lakehouse.resources.postgres import stop_embedded

COMMANDS = {"stop-postgres": lambda: stop_embedded(settings.embedded_pg_dir())}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python -m banking_lakehouse {{{'|'.join(COMMANDS)}}}")
    COMMANDS[sys.argv[1]]()
