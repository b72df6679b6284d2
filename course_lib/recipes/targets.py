"""What some checkpoints aimed at, and whether they reached it: a figure of the manifest against a
number or against another checkpoint's figure. The README's "Targets" table is written from here
(``python -m course_lib.checkpoints list --write README.md``), with the validation curve of each
run, so that a missed target shows where its run stood when the budget ran out.
"""

from dataclasses import dataclass

OPS = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b}
FID_TEST = "classifier-FID, 10,000 samples vs the 10,000 test digits"


@dataclass(frozen=True)
class Target:
    name: str                 # the checkpoint
    figure: str               # a figure of its manifest entry
    op: str                   # one of OPS
    value: object             # a number, or (checkpoint, figure[, factor]): that checkpoint's figure (x factor)
    why: str = ""             # where the number comes from

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"op must be one of {sorted(OPS)}, got {self.op!r}.")

    def threshold(self, entries):
        """The number to reach, from ``entries`` (the manifest's models) when it is another checkpoint's."""
        if isinstance(self.value, (int, float)):
            return float(self.value)
        other, figure, *factor = self.value
        return entries[other]["figures"][figure] * (factor[0] if factor else 1.0)

    def describe(self, entries, fmt=lambda key, value: f"{value:g}"):
        """The target in words, with the number it stands for: "<= 1.25", "<= 1.5 x `dcgan`'s (32.79)"."""
        if isinstance(self.value, (int, float)):
            return f"{self.op} {fmt(self.figure, float(self.value))}"
        other, _, *factor = self.value
        text = f"{self.op} {f'{factor[0]:g} x ' if factor else ''}`{other}`'s"
        return text + (f" ({fmt(self.figure, self.threshold(entries))})" if self._ready(entries) else "")

    def _ready(self, entries):
        others = () if isinstance(self.value, (int, float)) else (self.value[:2],)
        return all(n in entries and entries[n]["figures"].get(f) is not None   # None: e.g. a diverged run's FID
                   for n, f in ((self.name, self.figure), *others))

    def met(self, entries):
        """True or False; None while a checkpoint is untrained or the figure not yet measured."""
        if not self._ready(entries):
            return None
        return bool(OPS[self.op](entries[self.name]["figures"][self.figure], self.threshold(entries)))


TARGETS = (
    Target("gated_pixelcnn_binary", "test NLL (nats, 10,000 digits)", "<=", 83.0,
           "van den Oord et al. 2016 report 81.30 for a PixelCNN, on another binarization"),
    Target("gated_pixelcnn_8bit", "test NLL (bits/dim, 10,000 digits)", "<=", 1.00,
           "below the plain 8-bit checkpoint's 1.081"),
    Target("gated_pixelcnn_conditional", "samples recognised as the requested digit (classifier, 1,000 samples)",
           ">=", 0.90, "the plain conditional checkpoint: 77.7%"),
    Target("gated_pixelcnn_conditional", "test NLL given c (nats, 10,000 digits)", "<",
           ("gated_pixelcnn_binary", "test NLL (nats, 10,000 digits)"), "the label should help"),
    Target("diffusion_mnist", f"{FID_TEST}: the sampler chosen on validation", "<=", ("dcgan", FID_TEST),
           "the DCGAN's FID, with one network call per sample against the sampler's 20 at most"),
    Target("diffusion_mnist", f"{FID_TEST}: the best sampler on validation at any step count", "<=",
           ("dcgan", FID_TEST), "the same, without the lecture's cap on network calls"),
    Target("glow_mnist", "test bits/dim (10,000 digits, one dequantization each)", "<=", 1.25,
           "published flows reach 0.99-1.06 (Grathwohl et al. 2019, Table 2)"),
    Target("wgan_mnist", FID_TEST, "<=", ("dcgan", FID_TEST, 1.5), "equal training minutes"),
    Target("cfg_diffusion_mnist", "samples recognised as the requested digit (classifier, 10,000 samples), at the w "
           "chosen on validation", ">=", 0.98, "the conditional GAN checkpoint: 96.8% (issue 25)"),
)
