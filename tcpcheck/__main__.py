import sys
from importlib.util import find_spec

from .verdicts import ExitStatus  # the standard library only: safe before the check below

# Run from a checkout without its dependencies installed, the commands would fail deep inside
# with a traceback; say what is missing and how to set up instead.
_NEEDED = ("click", "rich", "lark", "networkx", "z3", "graphviz", "dpkt")
_missing = [name for name in _NEEDED if find_spec(name) is None]
if _missing:
    sys.stderr.write(f"tcpcheck: missing Python packages: {', '.join(_missing)}. Set up with "
                     "`bash scripts/setup.sh` and run .venv/bin/tcpcheck, or install tcpcheck "
                     "into this Python with `python3 -m pip install -e .`\n")
    sys.exit(ExitStatus.BAD_INPUT)   # the user's set-up is wrong, as with a bad option

from .cli import main  # noqa: E402

main()
