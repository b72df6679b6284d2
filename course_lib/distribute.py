"""Data-parallel training with ``tf.distribute.MirroredStrategy``: what the course's custom
``train_step``s need to give, on several devices, the step one device takes on the same global batch.

Under the strategy each replica runs ``train_step`` on its share of the global batch and the
optimizer **sums** the replicas' gradients. So a custom step

- divides its loss by the replicas inside the gradient tape (``replica_loss``: a mean over its
  share, summed over the replicas, is then the mean over the global batch);
- draws its noise for the **global** batch, the same on every replica (the seed generator's state
  is mirrored), and keeps its own rows (``replica_rows``): together the replicas use exactly the
  noise one device would have drawn;
- normalises with synchronized batch statistics (``synchronized_batch_norm``), else each replica
  normalises by the statistics of its share;
- clips, if its optimizer clips, the summed gradient (``clipped_share``), as one device would.

With one device (no strategy) ``replicas()`` is 1 and every step is what it was.
"""

import os

# The recipes whose model's train_step is made for several replicas (VAE, GAN, WGANGP, Diffusion and
# ConditionalDiffusion, FlowMatching, the flows; tests/test_distribute.py) and whose training goes
# through it (the toy GANs of 07 train in loops of their own): `make checkpoints DEVICES=2` refuses the others.
DATA_PARALLEL = {"dcgan", "cgan", "wgan_mnist", "diffusion_mnist", "flow_mnist", "glow_mnist",
                 "cfg_diffusion_mnist", "flow_matching_mnist", "vae_d2", "vae_d20", "cvae_d2"}


def _tf():
    import tensorflow as tf

    return tf


def replicas():
    """Replicas training in sync under the current distribution strategy (1 without one)."""
    return _tf().distribute.get_strategy().num_replicas_in_sync


def in_replica_step():
    """True inside one replica's step of a strategy with several replicas (a train_step under
    ``fit``); False on one device, and in the strategy's cross-replica context (e.g. a model
    called eagerly inside ``strategy.scope()``)."""
    ctx = _tf().distribute.get_replica_context()
    return ctx is not None and ctx.num_replicas_in_sync > 1


def check_batch_splits(batch_size, replicas_, name="batch_size"):
    """``batch_size`` itself if it splits evenly over ``replicas_`` devices; else ValueError. An uneven
    split gives the replicas shares of different sizes that ``replica_loss`` would weigh alike, and
    rows cut from draws of different sizes: not the step one device takes."""
    if not isinstance(batch_size, int) or batch_size < 1 or batch_size % replicas_:
        raise ValueError(f"{name} {batch_size!r} does not split evenly over {replicas_} devices: choose DEVICES "
                         f"among the divisors of {batch_size!r}.")
    return batch_size


def replica_loss(loss):
    """The loss a replica differentiates: its share's mean divided by the replicas (the optimizer
    sums their gradients, which then make the global batch's mean); ``loss`` itself on one device."""
    r = replicas()
    return loss / r if r > 1 else loss


def replica_rows(global_values, n):
    """This replica's ``n`` rows of ``global_values`` (drawn alike on every replica): replica k takes
    rows k*n .. (k+1)*n - 1, the rows of the global batch the strategy gave it. Outside a replica's step
    (a model called in the strategy's scope, e.g. to build it) the first n rows."""
    tf = _tf()
    if replicas() == 1:
        return global_values
    if not in_replica_step():          # a call outside fit's replica steps (a model built in the scope): the first rows
        return global_values[:n]
    k = tf.distribute.get_replica_context().replica_id_in_sync_group
    return global_values[k * n:(k + 1) * n]


def clipped_share(optimizer, grads):
    """The gradients to give ``optimizer.apply_gradients`` in a replica's step when the optimizer
    clips (``global_clipnorm``, ``clipnorm`` or ``clipvalue``). Keras clips each replica's gradient
    before it sums them, which is not the clipping of the summed gradient one device would do;
    so here the replicas' gradients are summed, clipped as one device would, and each replica passes
    1/replicas of the result (already within the bounds: the optimizer's own clipping leaves it be).
    One device, or no clipping: ``grads`` unchanged."""
    r = replicas()
    norm, global_norm = getattr(optimizer, "clipnorm", None), getattr(optimizer, "global_clipnorm", None)
    value = getattr(optimizer, "clipvalue", None)
    if r == 1 or (norm is None and global_norm is None and value is None):
        return grads
    tf = _tf()
    # an embedding's gradient comes as IndexedSlices (rows of the table): summed and clipped as a dense tensor
    grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
    total = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, list(grads))
    if global_norm is not None:
        total, _ = tf.clip_by_global_norm(total, global_norm)
    if norm is not None:
        total = [tf.clip_by_norm(g, norm) for g in total]
    if value is not None:
        total = [tf.clip_by_value(g, -value, value) for g in total]
    return [g / r for g in total]


def synchronized_batch_norm():
    """True when a model built now will train on more than one replica: its BatchNormalization
    layers must then average the batch statistics over the replicas."""
    return replicas() > 1


def split_cpu(n):
    """Make ``n`` logical devices of the CPU (for trying data parallelism on one machine). Call it
    before TensorFlow has started its devices (first thing in a process)."""
    tf = _tf()
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be a positive number of devices, got {n}.")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as err:
        raise RuntimeError(f"TensorFlow has started its devices already: split the CPU ({n} devices) first "
                           f"thing in the process ({err})") from None
    return [f"/cpu:{i}" for i in range(n)]


def _devices_for(n):
    """``n`` device names to mirror over: the first n GPUs, else n logical devices of the CPU
    (split now if they are not there yet)."""
    tf = _tf()
    if len(tf.config.list_physical_devices("GPU")) >= n:
        return [f"/gpu:{i}" for i in range(n)]
    cpu = tf.config.list_physical_devices("CPU")[0]
    if len(tf.config.get_logical_device_configuration(cpu) or []) < n:
        split_cpu(n)
    return [f"/cpu:{i}" for i in range(n)]


def split_cpu_if_asked():
    """``DEVICES=N`` (N > 1) on a machine with fewer than N GPUs: N logical devices of the CPU,
    made before TensorFlow starts its devices (``import course_lib`` calls this first)."""
    n = os.environ.get("DEVICES", "").strip()
    if n.isdigit() and int(n) >= 2:
        _devices_for(int(n))


def strategy(devices=None):
    """The strategy to build and train under: ``MirroredStrategy`` over ``devices`` (a number, or
    a list of device names; default: ``$DEVICES``, else every GPU when there are several), else
    TensorFlow's default strategy (one device). ``DEVICES=2`` on a machine without two GPUs splits
    the CPU in two logical devices, which must happen before TensorFlow starts its devices."""
    tf = _tf()
    devices = devices if devices is not None else os.environ.get("DEVICES")
    if devices is None:
        gpus = tf.config.list_physical_devices("GPU")
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if isinstance(devices, str):
        if not devices.strip().isdigit():
            raise ValueError(f"DEVICES must be a number of devices, got {devices!r}.")
        devices = int(devices)
    if isinstance(devices, int):
        if devices < 1:
            raise ValueError(f"devices must be at least 1, got {devices}.")
        if devices == 1:
            return tf.distribute.get_strategy()
        names = _devices_for(devices)
        # on CPU devices the default collective all-reduce matched two optimizers' reductions in
        # different orders on the two replicas ("Shape mismatch in the collective instance")
        on_cpu = names[0].startswith("/cpu")
        return tf.distribute.MirroredStrategy(
            names, cross_device_ops=tf.distribute.ReductionToOneDevice() if on_cpu else None)
    return tf.distribute.MirroredStrategy(list(devices))
