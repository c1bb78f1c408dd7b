"""CIFAR-10 in the paper's regime: networks trained until the static loss fits its training set.

The 15-epoch studies of :mod:`dynloss_book.cifar10` end at a training accuracy of about
0.52: the networks underfit, so they test the dynamical loss at a short budget, not the
paper's claim, which is about networks that fit their training set. This study's design,
fixed before any of its runs (pilots included):

1. **Pilots** (:data:`PILOTS`), one static Myrtle5-64 run each on :data:`PILOT_SEED`
   (used by no other part), :data:`EPOCHS` epochs, the clean (unaugmented) training
   images evaluated every :data:`TRAIN_EVAL_EVERY` epochs and after the last: one with
   flip-and-crop augmentation, one without. **Rule** (:func:`fit_study`): the study
   trains with augmentation if that pilot ends at a clean training accuracy of at least
   :data:`FIT` (0.99); else without, if that pilot does; else no study is defined at
   this budget (:class:`NoFit`).
2. **Screen**: A in {2, 4} x T in {38, 155} steps (whole rounds of the ten classes in the
   :data:`OSCILLATING_EPOCHS` oscillating epochs: one epoch per class and eight rounds,
   four epochs per class and two rounds), then :data:`STATIC_EPOCHS` static epochs, on
   the screen's seeds. The cell with the largest mean paired gain in final test
   accuracy is chosen (the rule of :func:`dynloss_book.cifar10.chosen_cell`).
3. **Confirmation**: the chosen cell against the static loss on 24 fresh paired seeds;
   **WRN-16-4** at the same cell on 8 of them. Paired differences in final test accuracy
   with 95% bootstrap intervals and the detectable difference; the clean training
   accuracy of every run is stored, and the verdict is stated for runs that fit.

Batch 128, peak learning rate 0.05 (warmup-cosine), SGD Nesterov 0.9, weight decay 5e-4:
the 15-epoch studies' optimiser, trained :data:`EPOCHS` epochs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dynloss_lib import minibatch
from dynloss_book.cifar10 import Study
from dynloss_book.cifar_runs import LazyData, data_label, run_config

EPOCHS = 100
STATIC_EPOCHS = 20
OSCILLATING_EPOCHS = EPOCHS - STATIC_EPOCHS
TRAIN_EVAL_EVERY = 5
FIT = 0.99
"""Clean training accuracy at which a run counts as fitting its training set."""
PILOT_SEED = 90
NAME = "myrtle5-64-fit"
"""The study's name on the command line (``python -m dynloss_book cifar10 --study NAME``)."""

BASE = minibatch.CifarConfig(width=64, epochs=EPOCHS, static_epochs=STATIC_EPOCHS,
                             batch_size=128, learning_rate=0.05, period=38,
                             train_eval_every=TRAIN_EVAL_EVERY)
PILOTS = {"not augmented": BASE.replace(amplitude=1.0, seed=PILOT_SEED, augment=False),
          "augmented": BASE.replace(amplitude=1.0, seed=PILOT_SEED)}
"""The pilots (static Myrtle5-64 runs), in the order they run."""
PREFERENCE = ("augmented", "not augmented")
"""The order in which the rule reads the pilots (the first that fits decides)."""
CELLS = ((2.0, 38), (2.0, 155), (4.0, 38), (4.0, 155))
SCREEN_SEEDS = (300, 301, 302, 303)
SEEDS = tuple(range(310, 334))
WRN_SEEDS = tuple(range(310, 318))


class NoFit(ValueError):
  """No pilot fits its training set at this budget: the study is not defined."""


def pilots(directory, recompute: bool = False, progress: bool = True, source=None,
           checkpoint_dir=None, stored_only: bool = False) -> dict:
  """Run (or load) the pilots: name -> stored run (None when ``stored_only`` and missing)."""
  data = LazyData("subset", source)
  return {name: run_config(config, data.get, data_label("subset"), directory,
                           checkpoint_dir=checkpoint_dir, recompute=recompute,
                           progress=progress, stored_only=stored_only)
          for name, config in PILOTS.items()}


def decided_study(directory, source=None, checkpoint_dir=None, progress: bool = True,
                  stored_only: bool = False) -> Study:
  """The pilots (run first if missing, unless ``stored_only``), then the study they decide."""
  return fit_study(pilots(directory, progress=progress, source=source,
                          checkpoint_dir=checkpoint_dir, stored_only=stored_only))


def cifar10_fit(directory, recompute: bool = False, progress: bool = True) -> dict:
  """The registered experiment: the pilots, then the study they decide (trained on a GPU only;
  on another machine its stored runs are loaded). ``{"pilots": ..., **the study's parts}``;
  the pilots alone when neither fits (:class:`NoFit`: the rule defines no study)."""
  from dynloss_book.cifar10 import run_study
  found = pilots(directory, recompute=recompute, progress=progress)
  try:
    study = fit_study(found)
  except NoFit as no_fit:
    print(no_fit, flush=True)
    return {"pilots": found}
  return {"pilots": found, **run_study(study, directory, recompute=recompute, progress=progress)}


def final_clean_accuracy(run) -> float:
  """A stored run's clean training accuracy after its last epoch (a ValueError for a run that
  did not measure it)."""
  if "clean_train_accuracy" not in run.history:
    raise ValueError(f"this run did not evaluate its clean training images (train_eval_every "
                     f"was 0), so whether it fits is unknown: {run.config}")
  return float(run.history["clean_train_accuracy"][-1])


def study_for(augment: bool) -> Study:
  """The study's design with or without augmentation (see the module docstring); trained on
  a GPU (sized for one H200 call)."""
  return Study(data="subset", base=BASE.replace(augment=augment), cells=CELLS,
               screen_seeds=SCREEN_SEEDS, seeds=SEEDS, wrn=(16, 4), wrn_seeds=WRN_SEEDS,
               backend="gpu")


def fit_study(pilot_runs: dict) -> Study:
  """The study the pilots decide (the rule of the module docstring).

  Examples:
    >>> import numpy as np
    >>> from dynloss_book import store
    >>> run = lambda a: store.Record("cifar10-run", {}, {}, {"clean_train_accuracy": np.array([a])})
    >>> fit_study({"augmented": run(0.95), "not augmented": run(0.999)}).base.augment
    False
    >>> fit_study({"augmented": run(0.995), "not augmented": run(1.0)}).base.augment
    True
    >>> fit_study({"augmented": run(0.9), "not augmented": run(0.98)})
    Traceback (most recent call last):
    ...
    dynloss_book.cifar_fit.NoFit: no pilot reaches a clean training accuracy of 0.99 in 100 epochs (augmented 0.9, not augmented 0.98); train longer and pilot again
  """
  finals = {name: final_clean_accuracy(run) for name, run in pilot_runs.items()}
  for name in PREFERENCE:
    if finals[name] >= FIT:
      return study_for(PILOTS[name].augment)
  shown = ", ".join(f"{name} {finals[name]:.3g}" for name in PREFERENCE)
  raise NoFit(f"no pilot reaches a clean training accuracy of {FIT} in {EPOCHS} epochs "
              f"({shown}); train longer and pilot again")


@dataclasses.dataclass(frozen=True)
class Cost:
  """What a study trains, and how long that takes at given rates.

  Attributes:
    images: model name -> images through training (forward and backward).
    evaluated: model name -> images through evaluation only (test set every epoch, the clean
      training set every ``train_eval_every`` epochs).
  """
  images: dict
  evaluated: dict

  def seconds(self, images_per_s: dict, evaluation_speedup: float = 3.0) -> float:
    """Seconds at ``images_per_s`` (model -> training rate); evaluation runs a forward pass
    only, counted ``evaluation_speedup`` times faster."""
    return sum((self.images[m] + self.evaluated[m] / evaluation_speedup) / images_per_s[m]
               for m in self.images)


def cost(study, train_size: int, test_size: int) -> Cost:
  """The images a study trains and evaluates (every run of its design).

  Examples:
    >>> c = cost(study_for(False), train_size=5085, test_size=1017)
    >>> c.images["myrtle5"], c.images["wrn"]
    (33945600, 7987200)
  """
  from dynloss_book.cifar10 import study_configs
  images, evaluated = {}, {}
  configs = study_configs(study, study.cells[0])
  for config in (c for runs in configs.values() for c in runs):
    steps = train_size // config.batch_size
    evaluations = sum(config.evaluates_train(e) for e in range(config.epochs))
    images[config.model] = images.get(config.model, 0) + config.epochs * steps * config.batch_size
    evaluated[config.model] = (evaluated.get(config.model, 0) + config.epochs * test_size
                               + evaluations * train_size)
  return Cost(images, evaluated)


@dataclasses.dataclass
class Report:
  """What the chapter shows of a complete study: fitting curves, screen, pairs, verdict.

  Attributes:
    study: the :class:`~dynloss_book.cifar10.Study`.
    results: :func:`~dynloss_book.cifar10.run_study`'s results, every run stored.
  """
  study: Study
  results: dict

  def fits(self, part: str) -> float:
    """The fraction of a part's runs whose final clean training accuracy is at least FIT."""
    return float(np.mean([final_clean_accuracy(r) >= FIT for r in self.results[part]]))

  def figure(self):
    """Clean training and test accuracy over the epochs, both arms of the confirmation."""
    import matplotlib.pyplot as plt
    from dynloss_book import plotting
    from dynloss_book.cifar10 import curves
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for part, colour in zip(("static", "dynamical"), plotting.SERIES_COLORS):
      for ax, name in zip(axes, ("clean_train_accuracy", "test_accuracy")):
        values = curves(self.results[part], name)
        epochs = np.arange(1, values.shape[1] + 1)
        kept = np.isfinite(values[0])
        ax.plot(epochs[kept], values[:, kept].T, color=colour, alpha=0.2, lw=1)
        ax.plot(epochs[kept], values[:, kept].mean(0), color=colour, lw=2,
                label=f"{part}, mean of {len(values)}")
    for ax, title in zip(axes, ("clean training images", "test images")):
      ax.set(xlabel="epoch", title=title)
      ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    plt.close(fig)
    return fig

  def screen_table(self):
    from dynloss_book.cifar10 import chosen_cell, screen_cells
    cell = chosen_cell(self.study, self.results["screen"])
    rows = [[f"A = {c.cell[0]:g}, T = {c.cell[1]}", f"{c.gain:+.4f}",
             "chosen" if c.cell == cell else ""]
            for c in screen_cells(self.study, self.results["screen"])]
    return ["cell", "mean paired gain (screen seeds)", ""], rows

  def pairs_table(self):
    from dynloss_book.cifar10 import comparison
    rows = []
    for name, wrn, static, dynamical in (("Myrtle5-64", False, "static", "dynamical"),
                                         ("WRN-16-4", True, "wrn_static", "wrn_dynamical")):
      result = comparison(self.study, self.results, wrn=wrn)
      rows.append([name, result.gain.n, result.gain.text(), f"{result.detectable:.4f}",
                   f"{self.fits(static):.2f} / {self.fits(dynamical):.2f}"])
    return ["network", "pairs", "gain in final test accuracy", "detectable (80% power)",
            "fraction that fits (static / dynamical)"], rows

  def verdict_text(self) -> str:
    from dynloss_book.cifar10 import comparison
    gain = comparison(self.study, self.results).gain
    return (f"**Verdict (Myrtle5-64, {gain.n} pairs): {gain.answer()}.** The dynamical loss changes "
            f"final test accuracy by {gain.text()}; {self.fits('static'):.0%} of the static "
            f"runs and {self.fits('dynamical'):.0%} of the dynamical ones fit their training "
            "set.")


def report(study: Study, results: dict) -> Report:
  """The :class:`Report` of a complete study."""
  return Report(study, results)
