"""`python -m keras_sam benchmark ...` runs the `keras-sam` command."""

from keras_sam.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
