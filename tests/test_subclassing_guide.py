"""Keras's guide "Making new layers and models via subclassing", run unchanged but for
the import (its printed values become assertions)."""

import numpy as np

import ember as keras
from ember import layers, ops


def test_subclassing_guide_runs_unchanged():

    class Linear(keras.layers.Layer):
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)
        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b
    x = ops.ones((2, 2))
    linear_layer = Linear(4, 2)
    y = linear_layer(x)
    assert y.shape == (2, 4)
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]

    class ComputeSum(keras.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)
        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total
    x = ops.ones((2, 2))
    my_sum = ComputeSum(2)
    y = my_sum(x); assert y.numpy().tolist() == [2.0, 2.0]
    y = my_sum(x); assert y.numpy().tolist() == [4.0, 4.0]
    assert len(my_sum.weights) == 1 and len(my_sum.non_trainable_weights) == 1 and my_sum.trainable_weights == []

    class Linear2(keras.layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)
        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    class MLPBlock(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1 = Linear2(32)
            self.linear_2 = Linear2(32)
            self.linear_3 = Linear2(1)
        def call(self, inputs):
            x = self.linear_1(inputs)
            x = keras.activations.relu(x)
            x = self.linear_2(x)
            x = keras.activations.relu(x)
            return self.linear_3(x)
    mlp = MLPBlock()
    y = mlp(ops.ones(shape=(3, 64)))
    assert len(mlp.weights) == 6 and len(mlp.trainable_weights) == 6

    class ActivityRegularizationLayer(keras.layers.Layer):
        def __init__(self, rate=1e-2):
            super().__init__()
            self.rate = rate
        def call(self, inputs):
            self.add_loss(self.rate * ops.mean(inputs))
            return inputs
    class OuterLayer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)
        def call(self, inputs):
            return self.activity_reg(inputs)
    layer = OuterLayer()
    assert len(layer.losses) == 0
    _ = layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1
    _ = layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1

    class OuterLayerWithKernelRegularizer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(32, kernel_regularizer=keras.regularizers.l2(1e-3))
        def call(self, inputs):
            return self.dense(inputs)
    layer = OuterLayerWithKernelRegularizer()
    _ = layer(ops.zeros((1, 1)))
    assert len(layer.losses) == 1  # the kernel penalty, computed now
    np.testing.assert_allclose(float(layer.losses[0]), 1e-3 * np.sum(np.square(layer.dense.kernel.numpy())), rtol=1e-5)

    inputs = keras.Input(shape=(3,))
    outputs = ActivityRegularizationLayer()(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.random((2, 3)), np.random.random((2, 3)), verbose=0)
    model.compile(optimizer="adam")
    model.fit(np.random.random((2, 3)), np.random.random((2, 3)), verbose=0)

    class Linear3(keras.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)
        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b
        def get_config(self):
            config = super().get_config()
            config.update({"units": self.units})
            return config
    layer = Linear3(64)
    config = layer.get_config()
    assert config == {"name": layer.name, "trainable": True, "dtype": "float32", "units": 64}
    new_layer = Linear3.from_config(config)
    assert new_layer.units == 64

    class Sampling(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(1337)
        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]
            dim = ops.shape(z_mean)[1]
            epsilon = keras.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class Encoder(layers.Layer):
        def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_mean = layers.Dense(latent_dim)
            self.dense_log_var = layers.Dense(latent_dim)
            self.sampling = Sampling()
        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean = self.dense_mean(x)
            z_log_var = self.dense_log_var(x)
            z = self.sampling((z_mean, z_log_var))
            return z_mean, z_log_var, z

    class Decoder(layers.Layer):
        def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_output = layers.Dense(original_dim, activation="sigmoid")
        def call(self, inputs):
            x = self.dense_proj(inputs)
            return self.dense_output(x)

    class VariationalAutoEncoder(keras.Model):
        def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, name="autoencoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.original_dim = original_dim
            self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
            self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)
        def call(self, inputs):
            z_mean, z_log_var, z = self.encoder(inputs)
            reconstructed = self.decoder(z)
            kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
            self.add_loss(kl_loss)
            return reconstructed

    (x_train, _), _ = keras.datasets.mnist.load_data()
    x_train = x_train.reshape(60000, 784).astype("float32") / 255
    original_dim = 784
    vae = VariationalAutoEncoder(784, 64, 32)
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    vae.compile(optimizer, loss=keras.losses.MeanSquaredError())
    h = vae.fit(x_train[:3000], x_train[:3000], epochs=2, batch_size=64, verbose=0)
    assert h.history["loss"][1] < h.history["loss"][0]
    assert len(vae.losses) == 1  # the KL term of the latest call
