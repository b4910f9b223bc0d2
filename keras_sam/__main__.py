"""`python -m keras_sam` points at the command, which is not in the library.

The `keras-sam` command (`python -m keras_sam_cli`) sits above the library
and imports it; the library does not import the command line, so this only
prints where it is and exits with code 2.
"""

import shlex
import sys

if __name__ == "__main__":
    command = shlex.join(sys.argv[1:]) or "--help"
    print(f"keras_sam is the library; the command is `keras-sam {command}` "
          f"(or `python -m keras_sam_cli {command}`)", file=sys.stderr)
    raise SystemExit(2)
