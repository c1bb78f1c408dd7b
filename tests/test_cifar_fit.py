"""The fitting-regime study: its design, its rule, its cost, and the report a complete study gets."""

from pathlib import Path

import numpy as np
import pytest

from dynloss_lib import minibatch
from dynloss_book import cifar10, cifar_fit, store

TINY = Path(__file__).resolve().parents[1] / "book" / "data" / cifar10.TINY_FILE


def test_the_design_keeps_its_seeds_apart_and_trains_on_a_gpu():
  for augment in (True, False):
    study = cifar_fit.study_for(augment)
    assert study.backend == "gpu" and study.base.augment == augment
    parts = [set(study.screen_seeds), set(study.seeds), {cifar_fit.PILOT_SEED}]
    assert not (parts[0] & parts[1]) and not (parts[2] & (parts[0] | parts[1]))
    assert set(study.wrn_seeds) <= set(study.seeds) and len(study.seeds) >= 24
    assert len(study.wrn_seeds) >= 8
  for pilot in cifar_fit.PILOTS.values():
    assert pilot.amplitude == 1 and pilot.train_eval_every and pilot.epochs == cifar_fit.EPOCHS


def test_a_study_counts_what_it_trains():
  need = cifar_fit.cost(cifar_fit.study_for(False), train_size=5085, test_size=1017)
  runs = 4 * (1 + len(cifar_fit.CELLS)) + 2 * len(cifar_fit.SEEDS)
  assert need.images["myrtle5"] == runs * 100 * 39 * 128
  assert need.images["wrn"] == 2 * len(cifar_fit.WRN_SEEDS) * 100 * 39 * 128
  # the test set every epoch, the training set every 5 epochs (20 times in 100)
  assert need.evaluated["myrtle5"] == runs * (100 * 1017 + 20 * 5085)
  assert need.seconds({"myrtle5": 1e9, "wrn": 1e9}) < need.seconds({"myrtle5": 1e5, "wrn": 1e5})


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
  study = cifar10.Study(
      data="tiny", base=minibatch.CifarConfig(width=4, epochs=3, static_epochs=1, batch_size=20,
                                              period=2, train_eval_every=1),
      cells=((3.0, 2), (2.0, 2)), screen_seeds=(0,), seeds=(1, 2, 3), wrn=(10, 1),
      wrn_seeds=(1, 2))
  folder = tmp_path_factory.mktemp("fit")
  return study, cifar10.run_study(study, folder, source=TINY, progress=False)


def test_a_complete_study_gets_its_report(toy):
  study, results = toy
  report = cifar_fit.report(study, results)
  assert 0 <= report.fits("static") <= 1
  header, rows = report.pairs_table()
  assert [row[0] for row in rows] == ["Myrtle5-64", "WRN-16-4"] and rows[0][1] == 3
  header, rows = report.screen_table()
  assert sum(row[-1] == "chosen" for row in rows) == 1
  assert report.verdict_text().startswith("**Verdict (Myrtle5-64, 3 pairs): ")
  assert len(report.figure().axes) == 2


def test_the_rule_needs_clean_training_accuracy(toy):
  _, results = toy
  run = results["static"][0]
  assert np.isfinite(run.history["clean_train_accuracy"]).all()
  assert run.final["final_clean_train_accuracy"] == cifar_fit.final_clean_accuracy(run)
  stripped = store.Record(run.name, run.config, run.final,
                          {k: v for k, v in run.history.items() if k != "clean_train_accuracy"})
  with pytest.raises(ValueError, match="did not evaluate its clean training images"):
    cifar_fit.fit_study({"augmented": stripped, "not augmented": stripped})
