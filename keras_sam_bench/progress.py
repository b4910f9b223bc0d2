"""tqdm progress for the benchmark: one overall bar and one bar per run.

On a terminal each run gets its own bar (epochs, latest loss and accuracy)
under the overall one; when stderr is not a terminal (a log file, CI) only
the overall bar is written, at most every few seconds, with the current run
as its postfix.
"""

import contextlib
import sys

import keras


def _interactive():
    return hasattr(sys.stderr, "isatty") and sys.stderr.isatty()


@contextlib.contextmanager
def overall_bar(total_epochs, enabled=True):
    """A tqdm bar over every epoch of every run (`None` when disabled)."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    with tqdm(
        total=total_epochs, desc="benchmark", unit="epoch", position=0,
        mininterval=0.1 if _interactive() else 5.0,
    ) as bar:
        yield bar


class EpochProgress(keras.callbacks.Callback):
    """Advances the overall bar per epoch; on a terminal, shows the run's own bar.

    Args:
        description: the run's name, e.g. `"SAM seed 0"`.
        epochs: the run's number of epochs.
        overall: the overall tqdm bar, or `None` (no progress at all).
    """

    def __init__(self, description, epochs, overall=None):
        super().__init__()
        self.description = description
        self.epochs = epochs
        self.overall = overall
        self.bar = None

    def on_train_begin(self, logs=None):
        if self.overall is None:
            return
        self.overall.set_postfix_str(self.description, refresh=False)
        if _interactive():
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.epochs, desc=self.description, unit="epoch",
                position=1, leave=False,
            )

    def on_epoch_end(self, epoch, logs=None):
        if self.overall is None:
            return
        if self.bar is not None:
            logs = logs or {}
            shown = {k: f"{logs[k]:.3f}" for k in ("loss", "accuracy") if k in logs}
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)
        self.overall.update(1)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
