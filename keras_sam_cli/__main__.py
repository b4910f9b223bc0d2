"""`python -m keras_sam_cli ...` runs the `keras-sam` command."""

from keras_sam_cli import main

if __name__ == "__main__":
    raise SystemExit(main())
