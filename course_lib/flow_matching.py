"""Flow matching on straight paths (Lipman et al. 2023; "rectified flow", Liu et al. 2023):
a velocity network trained by regression, sampled by integrating an ODE.

Pair a noise draw x0 ~ N(0, I) with a data example x1 and join them by a straight line,

    x_t = (1 - t) x0 + t x1,   t in [0, 1],   whose velocity is dx_t/dt = x1 - x0.

The network v(x_t, t) is regressed on that velocity (mean squared error, t ~ U(0, 1)). The
regression's optimum is the average velocity of all the lines through x_t at time t,

    v*(x, t) = E[x1 - x0 | x_t = x],

and the ODE dx/dt = v*(x, t), started from x(0) ~ N(0, I), ends at x(1) distributed as the data
(the marginals of the lines are kept). Sampling integrates it with a few steps of size h = 1/k:

    Euler   x <- x + h v(x, t)                                          1 network call per step
    Heun    x' = x + h v(x, t);  x <- x + h/2 [v(x, t) + v(x', t + h)]   2 calls per step, 2nd order

Heun's last step is an Euler step, as in Karras et al. (2022)'s sampler: it never calls the network
at t = 1, where for sharp data the optimal field is nearly singular (for one data point m it is
(m - x) / (1 - t)); k Heun steps cost 2k - 1 calls, and the error still shrinks like h^2.

For Gaussian data N(m, s^2) (per coordinate) the optimum is known in closed form
(``gaussian_velocity``); the tests integrate it.
"""

import keras
import numpy as np
from keras import ops

from course_lib.checks import CheckedFit, positive_int
from course_lib.diffusion import ExampleChecks, TrainsOneNetwork, _check_sampler_args
from course_lib.distribute import replica_rows, replicas

METHODS = ("euler", "heun")


def straight_path(x0, x1, t):
    """(x_t, velocity): the point at time t on the line from noise x0 to data x1, and its velocity
    x1 - x0 (the regression target). ``t``: one time per example, shape (n,)."""
    t = ops.reshape(ops.cast(t, "float32"), (-1,) + (1,) * (len(x1.shape) - 1))
    return (1.0 - t) * x0 + t * x1, x1 - x0


def gaussian_velocity(x, t, mean, std):
    """v*(x, t) = E[x1 - x0 | x_t = x] when x1 ~ N(mean, std^2) and x0 ~ N(0, 1), per coordinate:
    with a = 1 - t, b = t, x_t ~ N(b mean, a^2 + b^2 std^2) and Cov(x1 - x0, x_t) = b std^2 - a, so
    v* = mean + (b std^2 - a) / (a^2 + b^2 std^2) (x - b mean). For std = 0: (mean - x) / (1 - t)."""
    a, b = 1.0 - t, t
    return mean + (b * std ** 2 - a) / (a ** 2 + b ** 2 * std ** 2) * (x - b * mean)


@keras.saving.register_keras_serializable(package="course_lib")
class FlowMatching(TrainsOneNetwork, ExampleChecks, CheckedFit, keras.Model):
    """A velocity network v([x_t, t]) (t a float in [0, 1]: ``diffusion.build_unet(...,
    continuous_time=True)`` or ``build_mlp_denoiser(..., continuous_time=True)``), trained on
    straight paths: ``fit(x1)`` with examples scaled to [-1, 1] (images) or standardised
    (points). Logs ``loss``, the mean squared error of the velocity. ``ema_decay``: as for
    ``diffusion.Diffusion`` (an average of the weights to sample with)."""

    checks_predict = False                      # predict takes (x_t, t), not clean examples
    kind = "flow-matching model"

    def __init__(self, velocity, seed=0, ema_decay=None, ema_warmup=True, **kwargs):
        super().__init__(**kwargs)
        if len(velocity.inputs) != 2 or velocity.inputs[1].dtype not in ("float32", "float64"):
            raise ValueError("a flow-matching model needs a network [x_t, t] with a float time input: "
                             "diffusion.build_unet(..., continuous_time=True).")
        self.velocity = velocity
        self._init_average(velocity, ema_decay, ema_warmup)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.input_shape_ = tuple(velocity.inputs[0].shape[1:])
        self.built = True       # the network is built: fit() need not call the wrapper on data to build it

    @property
    def _averaged(self):
        return self.velocity

    def loss_of(self, x1):
        """E_{t, x0} ||(x1 - x0) - v(x_t, t)||^2 / dim on the batch, t ~ U(0, 1), one per example."""
        self._check_batch(x1)
        n, r = ops.shape(x1)[0], replicas()    # t and x0 drawn for the global batch, cut to this replica's rows
        t = replica_rows(keras.random.uniform((n * r,), seed=self.seed_generator), n)
        x0 = replica_rows(keras.random.normal((n * r,) + tuple(ops.shape(x1)[1:]), seed=self.seed_generator), n)
        x_t, target = straight_path(x0, x1, t)
        return ops.mean(ops.square(target - self.velocity([x_t, t], training=True)))

    def _data_loss(self, data):
        x1, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.loss_of(ops.cast(x1, "float32"))

    def get_config(self):
        return {**super().get_config(), "ema_decay": self.ema_decay, "ema_warmup": self.ema_warmup,
                "velocity": keras.saving.serialize_keras_object(self.velocity)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["velocity"] = keras.saving.deserialize_keras_object(config["velocity"])
        return cls(**config)


def _velocity_fn(velocity):
    """The network as a compiled function (x, t) -> v, built once per network (as
    ``diffusion._network``); a plain Python function f(x, t) is used as it is."""
    if not isinstance(velocity, keras.Model):
        return velocity
    fn = getattr(velocity, "_course_velocity_fn", None)
    if fn is None:
        import tensorflow as tf

        fn = tf.function(lambda x, t: velocity([x, t], training=False), reduce_retracing=True)
        object.__setattr__(velocity, "_course_velocity_fn", fn)
    return fn


def network_calls(method, steps):
    """Network calls of ``steps`` steps of ``method``: Euler 1 per step, Heun 2 per step but the
    last (an Euler step), 2 * steps - 1."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    steps = positive_int(steps, "steps")
    return steps if method == "euler" else 2 * steps - 1


def ode_sample(velocity, n, shape, steps=20, method="euler", seed=0, batch_size=1000, x_0=None, progress=False,
               trace=False):
    """Integrate dx/dt = v(x, t) from t = 0 to 1 in ``steps`` equal steps, from x(0) ~ N(0, I)
    (drawn from ``seed``) or the given starts ``x_0``; returns x(1), float32. ``velocity``: a
    network [x, t] -> v or a function f(x, t) with t an array of shape (n,). ``trace=True``
    returns (x(1), path) with path[i] the points after i steps, shape (steps + 1, n, ...)."""
    from course_lib.progress import progress_bar

    network_calls(method, steps)
    shape = _check_sampler_args(shape, batch_size)
    positive_int(n, "n")
    x = np.random.default_rng(seed).standard_normal((n,) + shape).astype("float32")
    if x_0 is not None:
        x_0 = np.array(x_0, "float32")
        if x_0.shape != x.shape:
            raise ValueError(f"x_0 must be n starts of the example shape, {x.shape}, got {x_0.shape}.")
        if not np.isfinite(x_0).all():
            raise ValueError("x_0 must hold finite numbers, got NaN or inf.")
        x = x_0
    call = _velocity_fn(velocity)

    def v(x, t):
        out = [call(x[s:s + batch_size], np.full(len(x[s:s + batch_size]), t, "float32"))
               for s in range(0, len(x), batch_size)]
        return np.concatenate([ops.convert_to_numpy(o) for o in out]).astype("float32")

    h, path = 1.0 / steps, [x]
    for i in (progress_bar(range(steps), desc=f"{method} steps") if progress else range(steps)):
        t = i * h
        k1 = v(x, t)
        if method == "euler" or i == steps - 1:     # Heun's last step is Euler's: no call at t = 1
            x = x + h * k1
        else:
            k2 = v(x + h * k1, t + h)
            x = x + 0.5 * h * (k1 + k2)
        if trace:
            path.append(x)
    return (x, np.stack(path)) if trace else x


SOLVER_KEYS = ("method", "steps", "weights")


def sample_with(model, n, solver, seed=0, batch_size=500, progress=False):
    """``n`` samples of a trained ``FlowMatching`` with ``solver`` = {"method": "euler" or "heun",
    "steps": k, optionally "weights": "EMA" (the default when the model keeps an average) or "raw"}."""
    import contextlib

    if not isinstance(model, FlowMatching):
        raise ValueError(f"model must be a FlowMatching, got {type(model).__name__}.")
    if not isinstance(solver, dict) or not {"method", "steps"} <= set(solver) or set(solver) - set(SOLVER_KEYS):
        raise ValueError(f"solver must be a dict with keys method and steps (and optionally weights), got {solver!r}.")
    weights = solver.get("weights", "raw" if model.ema_decay is None else "EMA")
    if weights not in ("EMA", "raw"):
        raise ValueError(f"solver['weights'] must be 'EMA' or 'raw', got {weights!r}.")
    with model.ema_weights() if weights == "EMA" else contextlib.nullcontext():
        return ode_sample(model.velocity, n, model.input_shape_, steps=solver["steps"], method=solver["method"],
                          seed=seed, batch_size=batch_size, progress=progress)
