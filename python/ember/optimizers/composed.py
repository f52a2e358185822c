"""Optimizers whose update rules are composed of `ember.ops` on the variables (no fused
kernel of their own, so they run on every device): Lion, Lamb, Ftrl and Adafactor, with
Keras 3's arguments, defaults, slots and update formulas (``keras/src/optimizers/``).

Weight decay is the base class's decoupled ``theta -= theta * weight_decay * lr`` before
the rule, clipping and the EMA/accumulation features the base's, as for every optimizer.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import InvalidArgumentError
from ..ops import core
from ..tensor import Variable
from .base import Optimizer, check_bool, check_nonnegative


def _real(name: str, value, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise InvalidArgumentError(f"{owner}: argument {name} must be a finite number, got {value!r}")
    return float(value)


def _rms(x):
    return core.sqrt(core.mean(core.square(x)))


class Lion(Optimizer):
    """``Lion(learning_rate=0.001, beta_1=0.9, beta_2=0.99)`` (Chen et al. 2023, "Symbolic
    Discovery of Optimization Algorithms"; ``keras/src/optimizers/lion.py``): the update
    is the sign of an interpolation of momentum and gradient,
    ``theta -= lr * sign(b1 m + (1 - b1) g)``, then ``m = b2 m + (1 - b2) g``. Its steps
    have a fixed size per element, so it wants a learning rate 3-10x smaller than Adam's.

    Args:
        learning_rate: float >= 0 or a schedule (default 0.001).
        beta_1: the interpolation factor of the update, in (0, 1] (default 0.9).
        beta_2: the momentum's decay, in [0, 1] (default 0.99).
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).

    Example:
        >>> import ember as em
        >>> v = em.Variable([0.0, 1.0]); opt = em.optimizers.Lion(0.1)
        >>> _ = opt.apply([em.tensor([3.0, -2.0])], [v]); v.numpy().tolist()
        [-0.10000000149011612, 1.100000023841858]
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        owner = "Lion"
        self.beta_1 = _real("beta_1", beta_1, owner)
        if not 0 < self.beta_1 <= 1:
            raise InvalidArgumentError(f"{owner}: argument for `beta_1` must be in the interval (0, 1], got "
                                       f"beta_1={beta_1!r}")
        self.beta_2 = _real("beta_2", beta_2, owner)
        if not 0 <= self.beta_2 <= 1:
            raise InvalidArgumentError(f"{owner}: argument for `beta_2` must be in [0, 1], got beta_2={beta_2!r}")

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            self.add_variable_from_reference(v, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        m = self.slot(variable, "momentum")
        md = m.detach()
        direction = core.sign(core.add(core.multiply(md, self.beta_1), core.multiply(gradient, 1.0 - self.beta_1)))
        variable.assign(core.subtract(variable.detach(), core.multiply(direction, learning_rate)))
        m.assign(core.add(core.multiply(md, self.beta_2), core.multiply(gradient, 1.0 - self.beta_2)))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Lamb(Optimizer):
    """``Lamb(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)`` (You et al.
    2019, layer-wise adaptive moments for large batches; ``keras/src/optimizers/lamb.py``):
    Adam's bias-corrected direction ``u = mhat / (sqrt(vhat) + eps)`` rescaled per
    variable by the trust ratio ``||theta|| / ||u||`` (1 when either norm is 0):
    ``theta -= ratio * lr * u``.

    Args:
        learning_rate: float >= 0 or a schedule (default 0.001).
        beta_1: decay of the first moment, in [0, 1) (default 0.9).
        beta_2: decay of the second moment, in [0, 1) (default 0.999).
        epsilon: float >= 0 (default 1e-7).
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).

    Example:
        >>> import ember as em
        >>> v = em.Variable([3.0, 4.0]); opt = em.optimizers.Lamb(0.1)
        >>> _ = opt.apply([em.tensor([1.0, 0.0])], [v]); [round(x, 4) for x in v.numpy().tolist()]
        [2.5, 4.0]
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        owner = "Lamb"
        from .base import check_unit_interval

        self.beta_1 = check_unit_interval("beta_1", beta_1, owner)
        self.beta_2 = check_unit_interval("beta_2", beta_2, owner)
        self.epsilon = check_nonnegative("epsilon", epsilon, owner)

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            self.add_variable_from_reference(v, "momentum")
            self.add_variable_from_reference(v, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        t = self.iterations + 1
        m, v = self.slot(variable, "momentum"), self.slot(variable, "velocity")
        md = core.add(m.detach(), core.multiply(core.subtract(gradient, m.detach()), 1.0 - self.beta_1))
        vd = core.add(v.detach(), core.multiply(core.subtract(core.square(gradient), v.detach()), 1.0 - self.beta_2))
        m.assign(md)
        v.assign(vd)
        m_hat = core.divide(md, 1.0 - self.beta_1 ** t)
        v_sqrt = core.add(core.sqrt(core.divide(vd, 1.0 - self.beta_2 ** t)), self.epsilon)
        update = core.divide(m_hat, v_sqrt)
        theta = variable.detach()
        w_norm = core.sqrt(core.sum(core.square(theta)))
        g_norm = core.sqrt(core.sum(core.square(update)))
        # ratio = w / g where both norms are > 0, else 1 (on the device, no readback)
        ok = core.multiply(core.greater(w_norm, 0.0), core.greater(g_norm, 0.0))
        ratio = core.add(core.multiply(core.divide(w_norm, core.add(g_norm, core.subtract(1.0, ok))), ok),
                         core.subtract(1.0, ok))
        variable.assign(core.subtract(theta, core.multiply(core.multiply(update, ratio), learning_rate)))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Ftrl(Optimizer):
    """``Ftrl(learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
    l1_regularization_strength=0.0, l2_regularization_strength=0.0,
    l2_shrinkage_regularization_strength=0.0, beta=0.0)`` ("Follow The Regularized
    Leader", McMahan et al. 2013; ``keras/src/optimizers/ftrl.py``): with ``n`` the
    accumulated squared gradients and ``z`` the linear term, each step
    ``n' = n + g^2``; ``z += g + 2 l2s theta - (n'^-p - n^-p) / lr * theta``;
    ``theta = (clip(z, -l1, l1) - z) / (n'^-p / lr + 2 (l2 + beta / (2 lr)))``, with
    ``p = learning_rate_power`` (L1 drives weights to exactly 0).

    Args:
        learning_rate: float > 0 or a schedule (default 0.001); the rule divides by it.
        learning_rate_power: <= 0 (default -0.5); 0 is a fixed learning rate.
        initial_accumulator_value: >= 0, the accumulators' start (default 0.1).
        l1_regularization_strength: >= 0 (default 0).
        l2_regularization_strength: >= 0 (default 0), the stabilization L2.
        l2_shrinkage_regularization_strength: >= 0 (default 0), the magnitude L2.
        beta: >= 0 (default 0), added to the L2 as ``beta / (2 lr)``.
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).

    Example:
        >>> import ember as em
        >>> v = em.Variable([1.0]); opt = em.optimizers.Ftrl(0.1)
        >>> _ = opt.apply([em.tensor([2.0])], [v]); round(float(v.numpy()[0]), 5)
        0.74505
    """

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        owner = "Ftrl"
        self.learning_rate_power = _real("learning_rate_power", learning_rate_power, owner)
        if self.learning_rate_power > 0:
            raise InvalidArgumentError(f"{owner}: `learning_rate_power` needs to be negative or zero, got "
                                       f"learning_rate_power={learning_rate_power!r}")
        self.initial_accumulator_value = check_nonnegative("initial_accumulator_value", initial_accumulator_value,
                                                           owner)
        self.l1_regularization_strength = check_nonnegative("l1_regularization_strength",
                                                            l1_regularization_strength, owner)
        self.l2_regularization_strength = check_nonnegative("l2_regularization_strength",
                                                            l2_regularization_strength, owner)
        self.l2_shrinkage_regularization_strength = check_nonnegative(
            "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, owner)
        self.beta = check_nonnegative("beta", beta, owner)

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            self.add_variable_from_reference(v, "accumulator", self.initial_accumulator_value)
            self.add_variable_from_reference(v, "linear")

    def update_step(self, gradient, variable, learning_rate):
        accum, linear = self.slot(variable, "accumulator"), self.slot(variable, "linear")
        p = self.learning_rate_power
        theta = variable.detach()
        a = accum.detach()
        l2 = self.l2_regularization_strength + self.beta / (2.0 * learning_rate)
        grad = core.add(gradient, core.multiply(theta, 2.0 * self.l2_shrinkage_regularization_strength))
        new_a = core.add(a, core.square(gradient))
        new_pow = core.power(new_a, -p)
        z = core.add(linear.detach(), core.subtract(
            grad, core.multiply(core.divide(core.subtract(new_pow, core.power(a, -p)), learning_rate), theta)))
        linear.assign(z)
        quadratic = core.add(core.divide(new_pow, learning_rate), 2.0 * l2)
        l1 = self.l1_regularization_strength
        variable.assign(core.divide(core.subtract(core.clip(z, -l1, l1), z), quadratic))
        accum.assign(new_a)

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


class Adafactor(Optimizer):
    """``Adafactor(learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
    clip_threshold=1.0, relative_step=True)`` (Shazeer & Stern 2018, factored second
    moments; ``keras/src/optimizers/adafactor.py``): for a variable of rank >= 2 the second
    moment is the outer product of row means ``r`` and column means ``c`` of ``g^2 +
    epsilon_1`` (memory of the rows plus the columns), else a full ``v``; the decay is
    ``1 - t^beta_2_decay``; the step ``u = g / sqrt(v)`` is clipped to RMS
    ``clip_threshold`` and scaled by ``max(epsilon_2, RMS(theta)) * min(lr, 1 / sqrt(t))``
    (with ``relative_step`` and a constant rate, ``lr`` is first capped by 1 / sqrt(t)).

    Args:
        learning_rate: float >= 0 or a schedule (default 0.001).
        beta_2_decay: the exponent of the second moment's decay (default -0.8).
        epsilon_1: added to the squared gradients (default 1e-30).
        epsilon_2: the floor of the parameter scale (default 1e-3).
        clip_threshold: the RMS the step is clipped to (default 1.0).
        relative_step: cap a constant learning rate by 1 / sqrt(t) (default True).
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).

    Example:
        >>> import ember as em
        >>> v = em.Variable([[1.0, 2.0], [3.0, 4.0]]); opt = em.optimizers.Adafactor(0.5)
        >>> _ = opt.apply([em.tensor([[1.0, 1.0], [1.0, 1.0]])], [v]); [round(float(x), 4) for x in v.numpy().ravel()]
        [-0.3693, 0.6307, 1.6307, 2.6307]
    """

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        owner = "Adafactor"
        self.beta_2_decay = _real("beta_2_decay", beta_2_decay, owner)
        self.epsilon_1 = check_nonnegative("epsilon_1", epsilon_1, owner)
        self.epsilon_2 = check_nonnegative("epsilon_2", epsilon_2, owner)
        self.clip_threshold = check_nonnegative("clip_threshold", clip_threshold, owner)
        if self.clip_threshold == 0:
            raise InvalidArgumentError(f"{owner}: argument clip_threshold must be > 0, got {clip_threshold!r}")
        self.relative_step = check_bool("relative_step", relative_step, owner)

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            if len(v.shape) >= 2:
                self._add_shaped_slot(v, "r", v.shape[:-1])
                self._add_shaped_slot(v, "c", v.shape[:-2] + (v.shape[-1],))
            self.add_variable_from_reference(v, "velocity")

    def _add_shaped_slot(self, reference: Variable, name: str, shape: tuple) -> Variable:
        """A zero slot of ``shape`` (the factored moments' rows or columns) keyed by
        ``reference``'s path, named as `add_variable_from_reference` names slots."""
        slot = Variable(np.zeros(shape, np.float32), trainable=False,
                        name=f"{self.name}/{reference.path.replace('/', '_')}_{name}", device=reference.device)
        self._slots.setdefault(reference.path, {})[name] = slot
        return slot

    def update_step(self, gradient, variable, learning_rate):
        t = self.iterations + 1
        lr = learning_rate
        inv_sqrt_t = 1.0 / (t ** 0.5)
        if self.relative_step and not callable(self._learning_rate):
            lr = lr if lr < inv_sqrt_t else inv_sqrt_t
        rho = lr if lr < inv_sqrt_t else inv_sqrt_t
        theta = variable.detach()
        alpha = core.multiply(core.maximum(_rms(theta), self.epsilon_2), rho)
        g2 = core.add(core.square(gradient), self.epsilon_1)
        beta_2_t = 1.0 - t ** self.beta_2_decay
        v = self.slot(variable, "velocity")
        if len(variable.shape) >= 2:
            r, c = self.slot(variable, "r"), self.slot(variable, "c")
            rd = core.add(core.multiply(r.detach(), beta_2_t), core.multiply(core.mean(g2, axis=-1), 1.0 - beta_2_t))
            cd = core.add(core.multiply(c.detach(), beta_2_t), core.multiply(core.mean(g2, axis=-2), 1.0 - beta_2_t))
            r.assign(rd)
            c.assign(cd)
            vd = core.multiply(core.expand_dims(core.divide(rd, core.mean(rd, axis=-1, keepdims=True)), -1),
                               core.expand_dims(cd, -2))
        else:
            vd = core.add(core.multiply(v.detach(), beta_2_t), core.multiply(g2, 1.0 - beta_2_t))
        v.assign(vd)
        u = core.divide(gradient, core.sqrt(vd))
        u = core.divide(u, core.maximum(core.divide(_rms(u), self.clip_threshold), 1.0))
        variable.assign(core.subtract(theta, core.multiply(u, alpha)))

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}


class ScheduleFreeAdamW(Optimizer):
    """``ScheduleFreeAdamW(learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
    warmup_steps=0)`` (Defazio et al. 2024, "The Road Less Scheduled";
    ``keras/src/optimizers/schedule_free_adamw.py``): no learning-rate schedule needed.
    The slot ``momentum`` holds the base sequence z (starting at the weights), which takes
    Adam-scaled steps ``z -= lr g / (sqrt(vhat) + eps)``; the averaged sequence ``x = (y -
    (1 - b1) z_old) / b1`` moves to ``(1 - 1/t) x + z / t``, and the weights are the
    interpolation ``y = (1 - b1) z + b1 x``. During ``warmup_steps`` the rate ramps up
    linearly.

    Args:
        learning_rate: float >= 0 or a schedule (default 0.0025).
        beta_1: the interpolation factor, in (0, 1) (default 0.9).
        beta_2: the second moment's decay, in [0, 1) (default 0.999).
        epsilon: float >= 0 (default 1e-8).
        warmup_steps: an int >= 0 (default 0).
        **kwargs: the common `Optimizer` arguments (weight_decay, clipnorm, ...).

    Example:
        >>> import ember as em
        >>> v = em.Variable([1.0]); opt = em.optimizers.ScheduleFreeAdamW(0.1)
        >>> _ = opt.apply([em.tensor([2.0])], [v]); round(float(v.numpy()[0]), 5)
        0.9
    """

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        owner = "ScheduleFreeAdamW"
        from .base import check_unit_interval

        self.beta_1 = check_unit_interval("beta_1", beta_1, owner)
        if self.beta_1 == 0:
            raise InvalidArgumentError(f"{owner}: argument beta_1 must be in (0, 1) (the rule divides by it), got 0")
        self.beta_2 = check_unit_interval("beta_2", beta_2, owner)
        self.epsilon = check_nonnegative("epsilon", epsilon, owner)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, numbers.Integral) or warmup_steps < 0:
            raise InvalidArgumentError(f"{owner}: argument warmup_steps must be an integer >= 0, got {warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            z = self.add_variable_from_reference(v, "momentum")
            z.assign(v.detach())
            self.add_variable_from_reference(v, "velocity")

    def update_step(self, gradient, variable, learning_rate):
        t = self.iterations + 1
        lr = learning_rate
        if self.warmup_steps > 0:
            ramp = t / self.warmup_steps
            lr = lr * (ramp if ramp < 1.0 else 1.0)
        z, v = self.slot(variable, "momentum"), self.slot(variable, "velocity")
        z_old = z.detach()  # a view of the slot: everything that reads it is computed before z.assign
        vd = core.add(v.detach(), core.multiply(core.subtract(core.square(gradient), v.detach()), 1.0 - self.beta_2))
        denom = core.add(core.sqrt(core.divide(vd, 1.0 - self.beta_2 ** t)), self.epsilon)
        z_new = core.subtract(z_old, core.divide(core.multiply(gradient, lr), denom))
        weight = 1.0 / t
        x_old = core.divide(core.subtract(variable.detach(), core.multiply(z_old, 1.0 - self.beta_1)), self.beta_1)
        x_new = core.add(core.multiply(x_old, 1.0 - weight), core.multiply(z_new, weight))
        v.assign(vd)
        z.assign(z_new)
        variable.assign(core.add(core.multiply(z_new, 1.0 - self.beta_1), core.multiply(x_new, self.beta_1)))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps}


class Muon(Optimizer):
    """``Muon`` (Jordan et al. 2024, MomentUm Orthogonalized by Newton-schulz;
    ``keras/src/optimizers/muon.py``): every 2-D variable (not an embedding or an
    ``exclude_layers`` match) takes momentum steps orthogonalized by ``ns_steps``
    iterations of the quintic Newton-Schulz map ``X <- a X + (b A + c A^2) X`` with ``A = X
    X^T`` (X the Frobenius-normalized (Nesterov) momentum, transposed when it is tall),
    scaled by ``sqrt(max(rows, cols)) * rms_rate``; every other variable an AdamW step at
    ``learning_rate * adam_lr_ratio``. Decoupled weight decay is ``weight_decay`` for the
    Muon variables and ``adam_weight_decay`` for the others.

    Args:
        learning_rate: float >= 0 or a schedule (default 0.001).
        adam_beta_1, adam_beta_2: the AdamW moments' decays (defaults 0.9, 0.999).
        adam_weight_decay: the AdamW variables' decay (default 0.004).
        epsilon: the AdamW epsilon (default 1e-7).
        weight_decay: the Muon variables' decay (default 0.004).
        exclude_layers: a list of regular expressions of variable paths that use AdamW.
        exclude_embeddings: whether variables whose path names an embedding use AdamW
            (default True).
        muon_a, muon_b, muon_c: the Newton-Schulz coefficients.
        adam_lr_ratio: the AdamW rate's factor (default 1).
        momentum: the Muon momentum (default 0.95).
        ns_steps: the Newton-Schulz iterations, in [0, 100] (default 5).
        nesterov: Nesterov momentum (default True).
        rms_rate: the update scale (default 0.2; None: no scaling).
        **kwargs: the common `Optimizer` arguments (clipnorm, ...).

    Example:
        >>> import ember as em
        >>> v = em.Variable([[1.0, 0.0], [0.0, 1.0]]); opt = em.optimizers.Muon(0.1, weight_decay=0.0)
        >>> _ = opt.apply([em.tensor([[1.0, 0.0], [0.0, 1.0]])], [v]); [round(float(x), 3) for x in v.numpy().ravel()]
        [0.969, 0.0, 0.0, 0.969]
    """

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004, epsilon=1e-7,
                 weight_decay=0.004, clipnorm=None, clipvalue=None, global_clipnorm=None, use_ema=False,
                 ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, exclude_layers=None, exclude_embeddings=True,
                 muon_a=3.4445, muon_b=-4.775, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5,
                 nesterov=True, rms_rate=0.2, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
                         ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name=name, **kwargs)
        owner = "Muon"
        from .base import check_unit_interval

        self.adam_beta_1 = check_unit_interval("adam_beta_1", adam_beta_1, owner)
        self.adam_beta_2 = check_unit_interval("adam_beta_2", adam_beta_2, owner)
        self.adam_weight_decay = None if adam_weight_decay is None else check_nonnegative(
            "adam_weight_decay", adam_weight_decay, owner)
        self.epsilon = check_nonnegative("epsilon", epsilon, owner)
        if exclude_layers is not None and (isinstance(exclude_layers, str) or not all(
                isinstance(p, str) for p in exclude_layers)):
            raise InvalidArgumentError(f"{owner}: exclude_layers must be a list of regular expressions, got "
                                       f"{exclude_layers!r}")
        self.exclude_layers = list(exclude_layers or [])
        self.exclude_embeddings = check_bool("exclude_embeddings", exclude_embeddings, owner)
        self.muon_a = _real("muon_a", muon_a, owner)
        self.muon_b = _real("muon_b", muon_b, owner)
        self.muon_c = _real("muon_c", muon_c, owner)
        self.adam_lr_ratio = check_nonnegative("adam_lr_ratio", adam_lr_ratio, owner)
        self.momentum = _real("momentum", momentum, owner)
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, numbers.Integral) or not 0 <= ns_steps <= 100:
            raise InvalidArgumentError(f"{owner}: argument ns_steps must be an integer in [0, 100], got {ns_steps!r}")
        self.ns_steps = int(ns_steps)
        self.nesterov = check_bool("nesterov", nesterov, owner)
        self.rms_rate = None if rms_rate is None else _real("rms_rate", rms_rate, owner)

    def _should_use_adamw(self, variable) -> bool:
        import re

        if len(variable.shape) != 2:
            return True
        if self.exclude_embeddings and "embedding" in variable.path.lower():
            return True
        return any(re.search(p, variable.path) for p in self.exclude_layers)

    def build(self, var_list):
        super().build(var_list)
        for v in var_list:
            self.add_variable_from_reference(v, "momentum")
            if self._should_use_adamw(v):
                self.add_variable_from_reference(v, "velocity")

    def _apply_weight_decay(self, variables, learning_rate):
        for v in variables:
            if not self._use_weight_decay(v):
                continue
            wd = self.adam_weight_decay if self._should_use_adamw(v) else self.weight_decay
            if wd is None:
                continue
            d = v.detach()
            v.assign(core.subtract(d, core.multiply(d, wd * learning_rate)))

    def update_step(self, gradient, variable, learning_rate):
        slots = self._slots[variable.path]
        m = slots["momentum"]
        if "velocity" in slots:
            self._adamw_step(gradient, variable, learning_rate * self.adam_lr_ratio, m, slots["velocity"])
        else:
            self._muon_step(gradient, variable, learning_rate, m)

    def _adamw_step(self, gradient, variable, lr, m, v):
        t = self.iterations + 1
        alpha = lr * (1 - self.adam_beta_2 ** t) ** 0.5 / (1 - self.adam_beta_1 ** t)
        md = core.add(m.detach(), core.multiply(core.subtract(gradient, m.detach()), 1.0 - self.adam_beta_1))
        vd = core.add(v.detach(), core.multiply(core.subtract(core.square(gradient), v.detach()), 1.0 - self.adam_beta_2))
        m.assign(md)
        v.assign(vd)
        variable.assign(core.subtract(variable.detach(), core.divide(core.multiply(md, alpha),
                                                                     core.add(core.sqrt(vd), self.epsilon))))

    def _muon_step(self, gradient, variable, lr, m):
        md = core.add(m.detach(), core.add(gradient, core.multiply(m.detach(), self.momentum - 1.0)))
        m.assign(md)
        g = core.add(gradient, core.multiply(md, self.momentum)) if self.nesterov else md
        update = self.zeropower_via_newtonschulz5(g, self.ns_steps)
        update = core.multiply(update, lr)
        if self.rms_rate is not None:
            update = core.multiply(update, max(update.shape[0], update.shape[1]) ** 0.5 * self.rms_rate)
        variable.assign(core.subtract(variable.detach(), update))

    def zeropower_via_newtonschulz5(self, x, steps: int):
        """The quintic Newton-Schulz approximation of the orthogonal factor of ``x``
        (Keras's method of the same name)."""
        from ..ops.nn import matmul
        from ..tensor import as_tensor

        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or not 0 <= steps <= 100:
            raise InvalidArgumentError(f"{self.name}.zeropower_via_newtonschulz5: steps must be an integer in [0, 100], "
                                       f"got {steps!r}")
        x = core._float(as_tensor(x))
        if x.ndim < 2:
            raise InvalidArgumentError(f"{self.name}: expected a gradient or momentum of at least 2 dimensions, got "
                                       f"shape {x.shape}")
        perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = core.transpose(x, perm)
        norm = core.sqrt(core.sum(core.square(x), axis=(-2, -1), keepdims=True))
        x = core.divide(x, core.add(norm, 1e-7))
        for _ in range(steps):
            a = matmul(x, core.transpose(x, perm))
            b = core.add(core.multiply(a, self.muon_b), core.multiply(matmul(a, a), self.muon_c))
            x = core.add(core.multiply(x, self.muon_a), matmul(b, x))
        if tall:
            x = core.transpose(x, perm)
        return x

    def get_config(self):
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                "epsilon": self.epsilon, "exclude_layers": self.exclude_layers, "muon_a": self.muon_a,
                "muon_b": self.muon_b, "muon_c": self.muon_c, "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum, "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings, "adam_weight_decay": self.adam_weight_decay,
                "rms_rate": self.rms_rate}


__all__ = ["Lion", "Lamb", "Ftrl", "Adafactor", "ScheduleFreeAdamW", "Muon"]
