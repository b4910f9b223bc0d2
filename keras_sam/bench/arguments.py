"""The `keras-sam benchmark` arguments: defined in `keras_sam_cli.arguments`.

The command line parses them before it imports Keras, so they live in the
backend-free `keras_sam_cli` package; this module re-exports them for the
benchmark's code.
"""

from keras_sam_cli.arguments import *  # noqa: F401,F403
