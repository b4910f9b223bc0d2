"""Small models the tests share."""

import keras


def bn_dropout_mlp(inputs=12, classes=4):
    """Dense -> BatchNorm -> Dropout(seeded) -> Dense, built."""
    return keras.Sequential(
        [
            keras.Input((inputs,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.BatchNormalization(momentum=0.5),
            keras.layers.Dropout(0.25, seed=1),
            keras.layers.Dense(classes),
        ]
    )


def sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def seeded_tanh_mlp():
    """Dense(tanh) -> Dense from seed 0: the same weights in every process."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((12,)),
        keras.layers.Dense(16, activation="tanh"),
        keras.layers.Dense(4),
    ])


def seeded_conv_net(length=12, classes=4):
    """Conv1D -> BatchNorm -> Dropout(seeded) -> Dense from seed 0, built."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((length, 1)),
        keras.layers.Conv1D(6, 3, activation="relu"),
        keras.layers.BatchNormalization(momentum=0.5),
        keras.layers.Dropout(0.25, seed=1),
        keras.layers.Flatten(),
        keras.layers.Dense(classes),
    ])
