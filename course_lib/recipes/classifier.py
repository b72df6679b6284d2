"""08's classifier: every sample-based figure reads digits with it."""

import keras
import numpy as np

from course_lib.recipes.base import Spec, TINY_SPLITS, last_logs, recipe_tools, steps_per_epoch


def specs(register, tiny=False):
    from course_lib import metrics as M

    data, subset, size = recipe_tools(tiny)
    epochs, batch, lr = size(8, 1), 128, 2e-3

    def build():
        return M.build_classifier()

    def compile_(model):
        d = data()
        schedule = keras.optimizers.schedules.CosineDecay(lr, epochs * steps_per_epoch(len(d["x_fit"]), batch),
                                                          alpha=0.05)
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    def fit_epoch(model, epoch):
        d = data()
        return last_logs(model.fit(d["x_fit"][..., None], d["y_fit"].astype("int32"), batch_size=batch,
                               epochs=1, verbose=0))

    def accuracy(model, x, y):
        return float((M.classifier_outputs(model, x)[1].argmax(1) == y).mean())

    def validate(model):
        d = data()
        return "validation accuracy", accuracy(model, d["x_val"], d["y_val"])

    def evaluate(model):
        d = data()
        return {"test accuracy": accuracy(model, d["x_test"], d["y_test"]),
                "validation accuracy": validate(model)[1]}

    def check(model):
        d, idx = data(), subset(500)
        probs = M.classifier_outputs(model, d["x_test"][idx])[1]
        return "mean -log p(true label | x), 500 fixed test digits", float(
            -np.log(probs[np.arange(len(idx)), d["y_test"][idx]] + 1e-12).mean())

    register(Spec("classifier", ("08a_evaluation", "08b_evaluation"),
                  "the course's MNIST classifier (metrics.build_classifier): reads every generated digit",
                  epochs, 3, {"batch_size": batch, "peak_lr": lr, "schedule": "cosine to 5%",
                              "train images": "55,000 (the validation split held out)"},
                  build, compile_, fit_epoch, size(55_000, TINY_SPLITS["fit"]), validate, evaluate, check))
