"""`--suite claims`: each paper's claim, and the task of the regime it lives in.

Each claim compares one method with a baseline (ERM or SAM) on a task
built to reach the regime its paper makes the claim in; `regimes.py`
checks from the run that the regime was reached, and `verdicts.py`
computes the verdict (the per-seed paired difference of test accuracy and
its 95 % interval; for a cost claim also the counted share of SAM steps or
the interleaved step times of `costs.py`). Nothing is written by hand.

The tasks were chosen by measurement on 2 CPU cores (ERM, seed 0) so that
each reaches its regime there; `regimes.py` checks it again in every run:

- `noisy_cnn`: 30 % symmetric label noise, SGD + momentum 0.9 at 0.05 with
  cosine decay over 60 epochs, long enough for ERM to memorize the noise
  (at 20 epochs it never did): the regime of SAM's label-noise claim.
- `clean_cnn`: the same protocol without noise, 30 epochs: ERM reaches
  near 100 % training accuracy and a flat test curve. The clean-data
  claims (GSAM, Friendly-SAM, ESAM's and MSAM's accuracy, the cost-accuracy
  claims of LookSAM and AE-SAM) live here.
- `gru`: MNIST-1D read step by step by a GRU, Adam 1e-2 with cosine decay,
  30 epochs, 4 000 samples: ERM converges (at 3e-3 it was still rising
  after 30 epochs).
"""

import dataclasses

MARGIN = 1.0  # accuracy points a method may lose and still be "about as good"
# The noisy task's power target: SAM - ERM's 95 % interval at most this wide.
POWER_WIDTH = 3.0


@dataclasses.dataclass(frozen=True)
class Task:
    """One benchmark run of the suite (the paper regime it stands for).

    `checks` name the regime checks of `regimes.py` its run must pass for
    its claims to be tested.
    """

    name: str
    description: str
    config: dict  # BenchmarkConfig fields
    checks: tuple = ()
    # (method, baseline) whose interval must be at most POWER_WIDTH wide
    power: tuple = None
    epochs_fraction: float = 1.0  # of --epochs (20 by default)
    max_samples: int = None  # caps --num-samples (train + test)

    def resolve(self, epochs, num_samples):
        """`(epochs, num_samples)` of this task for the suite's arguments."""
        epochs = max(1, round(self.epochs_fraction * epochs))
        if self.max_samples is not None:
            num_samples = min(num_samples or self.max_samples, self.max_samples)
        return epochs, num_samples


@dataclasses.dataclass(frozen=True)
class Claim:
    paper: str
    claim: str
    regime: str
    task: str
    method: str
    baseline: str
    kind: str  # "better", "worse" or "about as good"
    max_sam_fraction: float = None  # the cost part of the claim, if any
    cost: str = ""
    # Or a cost in step time: (method, limit) for "step time <= limit x that
    # method's", from the interleaved step-time measurement (`costs.py`).
    max_step_time: tuple = None


_SGD = {"model": "cnn", "optimizer": "sgd", "learning_rate": 0.05, "schedule": "cosine"}

TASKS = (
    Task("noisy_cnn", "MNIST-1D (8 000 train / 2 000 test), 1-D CNN (64 filters), "
         "30 % symmetric label noise, SGD + momentum 0.9 at 0.05 with cosine decay, "
         "60 epochs (3 x --epochs): long enough for ERM to memorize the noise",
         {**_SGD, "label_noise": 0.3,
          "variants": ["sam", "wsam", "gam", "ae_sam", "ae_look_sam", "look_sam"]},
         checks=("memorizes", "past_peak"), power=("sam", "erm"), epochs_fraction=3.0),
    Task("clean_cnn", "MNIST-1D (8 000 train / 2 000 test), 1-D CNN (64 filters), "
         "clean labels, SGD + momentum 0.9 at 0.05 with cosine decay, 30 epochs "
         "(1.5 x --epochs): trained to near 100 % training accuracy",
         {**_SGD, "label_noise": 0.0,
          "variants": ["sam", "gsam", "friendly_sam", "esam", "msam", "look_sam",
                       "ae_sam"]},
         checks=("fits", "flat"), epochs_fraction=1.5),
    # A GRU steps through the 40 time steps one by one: on 2 CPU cores it
    # costs several times the CNN per epoch, hence 4 000 samples.
    Task("gru", "MNIST-1D (3 200 train / 800 test) read step by step by a GRU (64 "
         "units), clean labels, Adam at 1e-2 with cosine decay, 30 epochs "
         "(1.5 x --epochs): a recurrent model, trained (GA-SAM's regime)",
         {"model": "gru", "optimizer": "adam", "learning_rate": 1e-2,
          "schedule": "cosine", "label_noise": 0.0, "variants": ["sam", "ga_sam"]},
         checks=("trained", "flat"), epochs_fraction=1.5, max_samples=4000),
)

CLAIMS = (
    Claim("SAM (Foret et al., ICLR 2021)", "better generalization than ERM, "
          "large with noisy labels", "SGD + momentum, CNN, label noise memorized "
          "by ERM", "noisy_cnn", "sam", "erm", "better"),
    Claim("GA-SAM (Zhang et al., EMNLP 2022)", "SAM fails on models with drastic "
          "gradient changes such as RNNs", "RNN / sequence task",
          "gru", "sam", "erm", "worse"),
    Claim("GA-SAM (Zhang et al., EMNLP 2022)", "helps where SAM fails",
          "RNN / sequence task", "gru", "ga_sam", "sam", "better"),
    Claim("WSAM (Yue et al., KDD 2023)", "at least as good as SAM", "as SAM",
          "noisy_cnn", "wsam", "sam", "about as good"),
    Claim("GAM (Zhang et al., CVPR 2023)", "better than the base optimizer",
          "SGD, CNN", "noisy_cnn", "gam", "erm", "better"),
    Claim("GAM (Zhang et al., CVPR 2023)", "GAM + SAM better than SAM (keras_sam's "
          "GAM is the released code's form, which includes the SAM gradient)",
          "SGD, CNN", "noisy_cnn", "gam", "sam", "better"),
    Claim("AE-SAM (Jiang et al., ICLR 2023)", "about SAM's accuracy at about half "
          "the SAM steps", "as SAM, clean labels", "clean_cnn", "ae_sam", "sam",
          "about as good", max_sam_fraction=0.6, cost="sam_fraction <= 0.6"),
    Claim("AE-LookSAM (Jiang et al., ICLR 2023)", "about SAM's accuracy at much "
          "lower cost, also under label noise", "as SAM, label noise", "noisy_cnn",
          "ae_look_sam", "sam", "about as good", max_sam_fraction=0.6,
          cost="sam_fraction <= 0.6"),
    Claim("LookSAM (Liu et al., CVPR 2022)", "about SAM's accuracy at 1 + 1/k "
          "passes per step", "as SAM, clean labels", "clean_cnn", "look_sam", "sam",
          "about as good", max_sam_fraction=0.2 + 1e-6, cost="sam_fraction <= 1/k = 0.2"),
    Claim("GSAM (Zhuang et al., ICLR 2022)", "better generalization than SAM",
          "clean labels", "clean_cnn", "gsam", "sam", "better"),
    Claim("Friendly-SAM (Li et al., CVPR 2024)", "better generalization than SAM",
          "clean labels", "clean_cnn", "friendly_sam", "sam", "better"),
    Claim("ESAM (Du et al., ICLR 2022)", "about SAM's accuracy at a lower cost",
          "clean labels; cost on a compute-bound model", "clean_cnn", "esam", "sam",
          "about as good", max_step_time=("sam", 1.0), cost="step time < SAM's"),
    Claim("MSAM (Becker et al., 2024)", "about SAM's accuracy at ERM's cost",
          "clean labels; cost on a compute-bound model", "clean_cnn", "msam", "sam",
          "about as good", max_step_time=("erm", 1.05), cost="step time <= 1.05 ERM's"),
)
