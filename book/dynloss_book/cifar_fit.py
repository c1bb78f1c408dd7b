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


def final_clean_accuracy(run) -> float:
  """A stored run's clean training accuracy after its last epoch."""
  return float(run.history["clean_train_accuracy"][-1])


def study_for(augment: bool) -> Study:
  """The study's design with or without augmentation (see the module docstring)."""
  return Study(data="subset", base=BASE.replace(augment=augment), cells=CELLS,
               screen_seeds=SCREEN_SEEDS, seeds=SEEDS, wrn=(16, 4), wrn_seeds=WRN_SEEDS)


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
