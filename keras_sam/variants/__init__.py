"""SAM-family algorithms. `get` resolves a string, a config dict or an instance.

`Variant` is the base class of your own algorithm (docs/adding_a_variant.md);
`check_range`, `global_norm` and `global_dot` are the helpers the built-in
variants use for argument checks and global norms.
"""

import keras

from keras_sam.variants.ae_look_sam import AELookSAM
from keras_sam.variants.ae_sam import AESAM
from keras_sam.variants.asam import ASAM
from keras_sam.variants.esam import ESAM
from keras_sam.variants.friendly_sam import FriendlySAM
from keras_sam.variants.ga_sam import GASAM
from keras_sam.variants.gam import GAM
from keras_sam.variants.gsam import GSAM
from keras_sam.variants.look_sam import LookSAM
from keras_sam.variants.msam import MSAM
from keras_sam.variants.sam import SAM
from keras_sam.basics import check_range, global_dot, global_norm
from keras_sam.variants.variant import Variant, registered
from keras_sam.variants.wsam import WSAM


def get(identifier):
    """Returns a `Variant` for a registered string, a config dict or an instance.

    Strings are the ids of `registered()` (e.g. `"sam"`, `"asam"`); a dict is
    either `{"class_name": ..., "config": {...}}` (as `keras.saving` writes it)
    or `{"name": "sam", **arguments}`.
    """
    if isinstance(identifier, Variant):
        return identifier
    table = registered()
    if isinstance(identifier, str):
        key = identifier.lower().replace("-", "_")
        if key not in table:
            raise ValueError(
                f"Unknown `variant`: {identifier!r}. "
                f"Choose one of {sorted(table)} or pass a Variant instance."
            )
        return table[key]()
    if isinstance(identifier, dict):
        if "class_name" in identifier:
            return keras.saving.deserialize_keras_object(identifier)
        config = dict(identifier)
        name = config.pop("name", None)
        if name not in table:
            raise ValueError(
                "A `variant` dict needs `name` set to one of "
                f"{sorted(table)}. Received: {identifier!r}"
            )
        return table[name](**config)
    raise ValueError(
        "Argument `variant` must be a string, a config dict or a "
        f"keras_sam.variants.Variant. Received: {identifier!r}"
    )


__all__ = [
    "AELookSAM", "AESAM", "ASAM", "ESAM", "MSAM", "FriendlySAM", "GAM", "GASAM", "GSAM",
    "LookSAM", "SAM", "Variant",
    "WSAM", "check_range", "get", "global_dot", "global_norm", "registered",
]
