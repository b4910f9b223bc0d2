import numpy as np
import pytest

from keras_sam import variants
from tests import golden, reference


def normalized(tensors, radius, epsilon=1e-12):
    scale = radius / (reference.norm(tensors) + epsilon)
    return [t * scale for t in tensors]


def gam_reference(rho, rho_prime, alpha, beta, gamma, h_minus="code",
                  epsilon=1e-12):
    """GAM's accelerated form (4 passes) in NumPy.

    As the authors' released code (xxgege/GAM) and docs/variants/gam.md:
    Zhang et al., CVPR 2023, arXiv:2303.03108.
    """

    def gradients(ref, batch, step):
        g0, before = ref.clean_gradients(batch)
        g1 = ref.gradients_at(batch, normalized(g0, rho_prime), before)
        e2 = normalized([a - b for a, b in zip(g1, g0)], rho)
        g2 = ref.gradients_at(batch, e2, before)
        e3 = [a + b for a, b in zip(e2, normalized(g2, rho_prime))]
        g3 = ref.gradients_at(batch, e3, before)
        plus = [alpha * a + (1 - alpha) * b for a, b in zip(g1, g3)]
        if h_minus == "code":
            minus = [a + abs(1 - beta) * b for a, b in zip(g0, g2)]
        else:
            minus = [beta * a + (1 - beta) * b for a, b in zip(g0, g2)]
        n_plus, n_minus = reference.norm(plus), reference.norm(minus)
        dot = sum(np.sum(a.astype(np.float64) * b) for a, b in zip(minus, plus))
        cosine = dot / (n_plus * n_minus + epsilon)
        perp = [m - cosine * n_minus * p / (n_plus + epsilon)
                for m, p in zip(minus, plus)]
        return [p - gamma * q for p, q in zip(plus, perp)]

    return gradients


ARGS = dict(rho=0.2, rho_prime=0.05, alpha=0.3, beta=0.4, gamma=0.5)


@pytest.mark.parametrize(
    "h_minus, jit_compile", [("code", False), ("paper", False), ("code", True)]
)
def test_gam_matches_formula(jit_compile, h_minus):
    golden.compare_with_reference(
        variants.GAM(**ARGS, h_minus=h_minus),
        gam_reference(**ARGS, h_minus=h_minus),
        jit_compile=jit_compile,
    )


def test_paper_h_minus_differs_from_code():
    with pytest.raises(AssertionError, match="relative error"):
        golden.compare_with_reference(
            variants.GAM(**ARGS, h_minus="paper"),
            gam_reference(**ARGS, h_minus="code"),
            jit_compile=False,
        )


def test_without_flatness_term_gam_is_sam():
    # alpha = 1, gamma = 0: the update is the SAM gradient at radius rho'.
    def sam(ref, batch, step):
        clean, state = ref.clean_gradients(batch)
        return ref.gradients_at(batch, reference.sam_offsets(clean, 0.05), state)

    golden.compare_with_reference(
        variants.GAM(rho_prime=0.05, alpha=1.0, gamma=0.0), sam,
        jit_compile=False,
    )


def test_default_hyperparameters_match_formula():
    golden.compare_with_reference(
        variants.GAM(), gam_reference(0.2, 0.03, 0.1, 0.1, 0.05),
        jit_compile=False, steps=2,
    )


def test_three_oracle_calls_per_step():
    assert golden.oracle_calls_per_step(variants.GAM, jit_compile=False) == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"rho_prime": 0.0}, {"rho_prime": -0.1}, {"rho": 0.0}, {"alpha": 1.5},
     {"alpha": -0.1}, {"beta": 1.1}, {"beta": -0.1}, {"gamma": -0.1},
     {"h_minus": "both"}, {"epsilon": -1.0}],
)
def test_invalid_arguments(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        variants.GAM(**kwargs)
