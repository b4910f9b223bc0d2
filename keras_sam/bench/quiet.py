"""Hiding the backend's native log lines: defined in `keras_sam_cli.quiet`.

The command line needs it before it imports Keras, so it lives in the
backend-free `keras_sam_cli` package; this module re-exports it for the
benchmark's code.
"""

from keras_sam_cli.quiet import *  # noqa: F401,F403
