import sys

try:
    from .cli import main
except ModuleNotFoundError as err:  # run from a checkout without its dependencies installed
    sys.stderr.write(f"tcpcheck: the Python package '{err.name}' is missing. Set up with "
                     "`bash scripts/setup.sh` and run .venv/bin/tcpcheck, or install tcpcheck "
                     "into this Python with `python3 -m pip install -e .`\n")
    sys.exit(2)

main()
