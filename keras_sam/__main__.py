"""`python -m keras_sam benchmark ...` runs the `keras-sam` command.

(It imports keras_sam, hence Keras, first; the `keras-sam` console script,
`keras_sam_cli.main`, does not.)
"""

from keras_sam_cli import main

if __name__ == "__main__":
    raise SystemExit(main())
