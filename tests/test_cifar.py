"""CIFAR-10: loader and its checks, models, minibatch training, resume, Gamma by label, CLI."""

import dataclasses
import pickle
import tarfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynloss_lib import cifar, convnets, minibatch, schedules
from dynloss_book import registry, store
from dynloss_book import cifar10 as cifar_study, cli
from dynloss_lib.cifar import cifar10
from dynloss_lib.losses import dynamical_cross_entropy

TINY = dict(width=2, batch_size=4, epochs=2, learning_rate=0.05)


def _arrays(n_train=8, n_test=4, seed=0):
  rng = np.random.default_rng(seed)
  return cifar.CifarData(rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
                         (np.arange(n_train) % 10).astype(np.int32),
                         rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
                         (np.arange(n_test) % 10).astype(np.int32))


def _write_npz(path, data, compressed=True):
  (np.savez_compressed if compressed else np.savez)(path, **data._asdict())
  return path


def _write_batches(folder, n=3):
  folder.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(1)
  for name in cifar.TRAIN_BATCHES + (cifar.TEST_BATCH,):
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"labels": list(range(n))}
    (folder / name).write_bytes(pickle.dumps(batch))
  return folder


# --- loader ---------------------------------------------------------------------------------

def test_npz_round_trip(tmp_path):
  data = _arrays()
  loaded = cifar10(_write_npz(tmp_path / "c.npz", data))
  for got, want in zip(loaded, data):
    np.testing.assert_array_equal(got, want)
  assert loaded.y_train.dtype == np.int32


def test_truncated_npz_is_detected(tmp_path):
  path = _write_npz(tmp_path / "c.npz", _arrays())
  path.write_bytes(path.read_bytes()[:-200])
  with pytest.raises(ValueError, match="corrupt or truncated"):
    cifar10(path)


def test_flipped_byte_in_uncompressed_npz_is_detected(tmp_path):
  path = _write_npz(tmp_path / "c.npz", _arrays(), compressed=False)
  raw = bytearray(path.read_bytes())
  raw[len(raw) // 3] ^= 0xFF  # inside x_train's pixels: only the CRC can notice
  path.write_bytes(bytes(raw))
  with pytest.raises(ValueError, match="corrupt or truncated"):
    cifar10(path)


def test_batches_folder_and_parent_folder(tmp_path):
  folder = _write_batches(tmp_path / cifar.FOLDER)
  for source in (folder, tmp_path):
    data = cifar10(source)
    assert data.x_train.shape == (15, 32, 32, 3) and data.x_test.shape == (3, 32, 32, 3)
  # the official layout is channel-major: pixel (0, 0) of image 0 is data[0, [0, 1024, 2048]]
  raw = pickle.loads((folder / "data_batch_1").read_bytes())[b"data"]
  np.testing.assert_array_equal(data.x_train[0, 0, 0], raw[0, [0, 1024, 2048]])


def test_truncated_batch_is_detected(tmp_path):
  folder = _write_batches(tmp_path / cifar.FOLDER)
  raw = (folder / "data_batch_3").read_bytes()
  (folder / "data_batch_3").write_bytes(raw[: len(raw) // 2])
  with pytest.raises(ValueError, match="data_batch_3 is corrupt or truncated"):
    cifar10(folder)


def test_tarball_with_wrong_md5_is_refused(tmp_path):
  folder = _write_batches(tmp_path / "src" / cifar.FOLDER)
  tarball = tmp_path / cifar.TARBALL
  with tarfile.open(tarball, "w:gz") as archive:
    archive.add(folder, arcname=cifar.FOLDER)
  with pytest.raises(ValueError, match=f"expected {cifar.MD5}"):
    cifar10(tarball)
  with pytest.raises(ValueError, match="corrupt or truncated"):
    cifar10(tmp_path)  # a folder holding the tarball


def test_empty_folder_says_what_is_expected(tmp_path):
  with pytest.raises(ValueError, match="no CIFAR-10 files in .*data_batch_1.*md5"):
    cifar10(tmp_path)
  with pytest.raises(ValueError, match="does not exist"):
    cifar10(tmp_path / "missing")


def test_offline_download_says_how_to_provide_the_data(tmp_path, monkeypatch):
  import pooch

  def offline(*args, **kwargs):
    raise ConnectionError("no network")
  monkeypatch.setattr(pooch, "retrieve", offline)
  with pytest.raises(ValueError, match="offline, download https://.*cifar-10-python.tar.gz"):
    cifar10(cache_dir=tmp_path)
  with pytest.raises(ValueError, match="download=False"):
    cifar10(cache_dir=tmp_path, download=False)


@pytest.mark.parametrize("images, labels, message", [
    (np.zeros((2, 3, 32, 32), np.uint8), np.zeros(2, int), r"shape \(N, 32, 32, 3\)"),
    (np.zeros((2, 32, 32, 3), np.float32), np.zeros(2, int), "must be uint8"),
    (np.zeros((2, 32, 32, 3), np.uint8), np.array([0, -1]), "got label -1 at index 1"),
    (np.zeros((2, 32, 32, 3), np.uint8), np.array([0.0, 1.0]), "must be integers"),
    (np.zeros((2, 32, 32, 3), np.uint8), np.zeros(3, int), "one label per image"),
])
def test_bad_arrays_in_a_file_are_refused(tmp_path, images, labels, message):
  good = _arrays()
  path = tmp_path / "c.npz"
  np.savez(path, x_train=images, y_train=labels, x_test=good.x_test, y_test=good.y_test)
  with pytest.raises(ValueError, match=message):
    cifar10(path)


def test_npz_missing_arrays(tmp_path):
  np.savez(tmp_path / "c.npz", x_train=np.zeros((1, 32, 32, 3), np.uint8))
  with pytest.raises(ValueError, match=r"no array\(s\) \['y_train'"):
    cifar10(tmp_path / "c.npz")


def test_augment_flips_or_keeps_each_image():
  images = jnp.asarray(np.random.default_rng(0).normal(size=(16, 32, 32, 3)), jnp.float32)
  out = np.asarray(cifar.augment(jax.random.PRNGKey(3), images, pad=0))
  same = (out == np.asarray(images)).all(axis=(1, 2, 3))
  flipped = (out == np.asarray(images)[:, :, ::-1]).all(axis=(1, 2, 3))
  assert (same | flipped).all() and same.any() and flipped.any()
  cropped = np.asarray(cifar.augment(jax.random.PRNGKey(3), images, pad=4))
  assert cropped.shape == images.shape and not (cropped == np.asarray(images)).all()


# --- models ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [dict(model="myrtle5", width=3),
                                    dict(model="wrn", depth=10, widen_factor=1),
                                    dict(model="myrtle5", width=3, dtype="bfloat16")])
def test_model_output_shapes(kwargs):
  net = convnets.build(**kwargs)
  x = jnp.zeros((5, 32, 32, 3), jnp.float32)
  variables = net.init(jax.random.PRNGKey(0), x)
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(variables))
  logits, updated = net.apply(variables, x, train=True, mutable=["batch_stats"])
  assert logits.shape == (5, 10) and logits.dtype == jnp.float32
  assert bool(updated) == (kwargs["model"] == "wrn")


def test_bad_model_arguments():
  with pytest.raises(ValueError, match="width=0"):
    convnets.build("myrtle5", width=0)
  with pytest.raises(ValueError, match="dtype='float16'"):
    convnets.build("myrtle5", dtype="float16")
  with pytest.raises(ValueError, match="batch_size=0"):
    minibatch.CifarConfig(batch_size=0)
  with pytest.raises(ValueError, match="amplitude=0.5"):
    minibatch.CifarConfig(amplitude=0.5)


# --- training --------------------------------------------------------------------------------

def test_batch_larger_than_training_set():
  with pytest.raises(ValueError, match="got batch_size=16"):
    minibatch.train(minibatch.CifarConfig(**{**TINY, "batch_size": 16}), _arrays(),
                    progress=False)


def test_training_runs_and_is_deterministic():
  config = minibatch.CifarConfig(**TINY, amplitude=5.0, period=3)
  first = minibatch.train(config, _arrays(), progress=False)
  second = minibatch.train(config, _arrays(), progress=False)
  for name in ("train_loss", "train_static_loss", "test_accuracy", "test_loss"):
    assert first.history[name].shape == (2,)
    assert np.isfinite(first.history[name]).all()
    np.testing.assert_array_equal(first.history[name], second.history[name])
  assert int(first.state["step"]) == 2 * 2


def test_bfloat16_training_runs():
  config = minibatch.CifarConfig(**{**TINY, "epochs": 1}, dtype="bfloat16")
  run = minibatch.train(config, _arrays(), progress=False)
  assert np.isfinite(run.history["train_loss"]).all()
  assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(run.state["params"]))


def test_training_decreases_the_loss_on_a_fixed_batch():
  data = _arrays(n_train=4, n_test=4)
  config = minibatch.CifarConfig(width=4, batch_size=4, epochs=15, learning_rate=0.05,
                                 augment=False, warmup_fraction=0.0)
  run = minibatch.train(config, data, progress=False)
  assert run.history["train_loss"][-1] < 0.8 * run.history["train_loss"][0]


def test_resume_from_checkpoint_matches_an_uninterrupted_run(tmp_path):
  config = minibatch.CifarConfig(**{**TINY, "epochs": 3}, amplitude=4.0, period=2)
  whole = minibatch.train(config, _arrays(), progress=False)

  def interrupt(epoch, history):
    if epoch == 0:
      raise KeyboardInterrupt
  with pytest.raises(KeyboardInterrupt):
    minibatch.train(config, _arrays(), checkpoint_dir=tmp_path, progress=False,
                    on_epoch=interrupt)
  assert len(list(tmp_path.glob("cifar10-checkpoint-*.npz"))) == 1
  epochs_run = []
  resumed = minibatch.train(config, _arrays(), checkpoint_dir=tmp_path, progress=False,
                            on_epoch=lambda epoch, history: epochs_run.append(epoch))
  assert epochs_run == [1, 2]
  for name in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
    np.testing.assert_array_equal(resumed.history[name], whole.history[name])
  for got, want in zip(jax.tree_util.tree_leaves(resumed.state),
                       jax.tree_util.tree_leaves(whole.state)):
    np.testing.assert_array_equal(got, want)
  assert not list(tmp_path.glob("cifar10-checkpoint-*.npz"))  # removed when finished


def test_scan_and_python_loops_agree():
  config = minibatch.CifarConfig(**TINY, amplitude=3.0, period=2)
  scan = minibatch.train(config, _arrays(), progress=False, loop="scan")
  python = minibatch.train(config, _arrays(), progress=False, loop="python")
  np.testing.assert_allclose(scan.history["train_loss"], python.history["train_loss"],
                             rtol=1e-4)
  with pytest.raises(ValueError, match="loop='while'"):
    minibatch.Trainer(config, 8, loop="while")


def test_gamma_is_applied_per_sample_by_label():
  config = minibatch.CifarConfig(width=2, batch_size=8, epochs=1, amplitude=20.0, period=10,
                                 augment=False)
  trainer = minibatch.Trainer(config, train_size=8)
  state = trainer.init_state()
  state["step"] = jnp.asarray(5 + 11, jnp.int32)  # mid-cycle of cycle 1: class 1 emphasised
  gamma = np.asarray(schedules.periodic_weights(16, 20.0, 10, 10))
  assert gamma.argmax() == 1 and gamma[1] / gamma[0] == pytest.approx(20.0)
  data = _arrays()
  _, metrics = trainer._train_step(state, (jnp.asarray(data.x_train), jnp.asarray(data.y_train),
                                           jax.random.PRNGKey(0)))
  logits = trainer.model.apply({"params": state["params"]},
                               cifar.normalise(jnp.asarray(data.x_train)))
  log_p = np.asarray(jax.nn.log_softmax(logits))[np.arange(8), data.y_train]
  expected = -np.mean(gamma[data.y_train] * log_p)
  assert float(metrics[0]) == pytest.approx(expected, rel=1e-5)
  assert float(metrics[1]) == pytest.approx(-np.mean(log_p), rel=1e-5)
  assert float(metrics[0]) != pytest.approx(float(metrics[1]), rel=1e-3)
  np.testing.assert_allclose(float(dynamical_cross_entropy(logits, jnp.asarray(data.y_train),
                                                           jnp.asarray(gamma))), expected,
                             rtol=1e-5)


def test_runs_differing_in_seed_and_gamma_share_one_compilation():
  config = minibatch.CifarConfig(**{**TINY, "epochs": 1}, amplitude=3.0, period=2)
  others = [config.replace(seed=1), config.replace(amplitude=5.0, period=4, static_epochs=1)]
  trainers = [minibatch.Trainer(c, 8, loop="python") for c in [config, *others]]
  assert all(t._program is trainers[0]._program for t in trainers)
  assert minibatch.Trainer(config.replace(width=3), 8, loop="python")._program \
      is not trainers[0]._program
  step = trainers[0]._program.step
  runs = [minibatch.train(c, _arrays(), progress=False, loop="python")
          for c in [config, *others]]
  assert step._cache_size() == 1  # one trace for the three runs
  assert runs[0].history["train_loss"][0] != runs[1].history["train_loss"][0]  # seeds differ
  assert runs[0].history["train_loss"][0] != runs[2].history["train_loss"][0]  # Gamma differs


def test_last_epochs_are_static():
  config = minibatch.CifarConfig(width=2, batch_size=4, epochs=3, amplitude=20.0, period=10,
                                 static_epochs=1)
  trainer = minibatch.Trainer(config, train_size=8)
  assert trainer.static_from == 2 * 2
  np.testing.assert_array_equal(np.asarray(trainer.gamma(4)), np.ones(10, np.float32))
  assert float(np.max(trainer.gamma(3))) > 1.5  # still dynamical one step before
  assert minibatch.Trainer(config.replace(static_epochs=0), 8).static_from is None
  with pytest.raises(ValueError, match="static_epochs=4"):
    config.replace(static_epochs=4)


def test_divergence_is_reported_and_stops_training():
  config = minibatch.CifarConfig(**{**TINY, "epochs": 4, "learning_rate": 1e30}, augment=False)
  with pytest.warns(RuntimeWarning, match="diverged in epoch 2 of 4"):  # epoch 1 warms up
    run = minibatch.train(config, _arrays(), progress=False)
  assert run.diverged_epoch == 1
  assert np.isfinite(run.history["test_accuracy"][0])
  assert np.isnan(run.history["test_accuracy"][2:]).all()
  assert run.history["test_accuracy"].shape == (4,)


def test_period_conversion():
  assert minibatch.epochs_to_steps(1, 5085, 128) == 39
  assert minibatch.epochs_to_steps(0.01, 5085, 128) == 1
  with pytest.raises(ValueError, match="epochs=0"):
    minibatch.epochs_to_steps(0, 5085, 128)


# --- studies and command line ----------------------------------------------------------------

CPU_STUDY = cifar_study.STUDIES["myrtle5-64-cpu"]


def test_study_configs_layout():
  configs = cifar_study.study_configs(CPU_STUDY)
  seeds = len(CPU_STUDY.screen_seeds)
  screen = configs["screen"]
  assert [c.amplitude for c in screen[:seeds]] == [1.0] * seeds  # the static runs first
  assert [(c.amplitude, c.period) for c in screen[seeds::seeds]] == list(CPU_STUDY.cells)
  assert [c.seed for c in screen] == list(CPU_STUDY.screen_seeds) * (len(CPU_STUDY.cells) + 1)
  assert configs["dynamical"] == [None] * len(CPU_STUDY.seeds)  # the screen chooses the cell
  configs = cifar_study.study_configs(CPU_STUDY, (4.0, 38))
  assert {(c.amplitude, c.period) for c in configs["dynamical"]} == {(4.0, 38)}
  # paired arms: the same seeds, and nothing else differs from the static run but A and T
  for static, dynamical in zip(configs["static"], configs["dynamical"]):
    assert dynamical.replace(amplitude=1.0, period=static.period) == static
  assert configs["horizon"][0].epochs == CPU_STUDY.horizon_epochs


@pytest.mark.parametrize("name", sorted(cifar_study.STUDIES))
def test_every_cell_of_every_study_gives_each_class_the_same_turns(name):
  study = cifar_study.STUDIES[name]
  steps_per_epoch = study.steps_per_epoch
  cells = list(study.cells) + ([study.cell] if study.cell else [])
  for amplitude, period in cells:
    config = study.base.replace(amplitude=amplitude, period=period)
    oscillating = (config.epochs - config.static_epochs) * steps_per_epoch
    # count the steps at which each class is the emphasised one, as the schedule computes it
    _, emphasised = schedules.phase_and_class(np.arange(oscillating), period, 10)
    turns = np.bincount(np.asarray(emphasised), minlength=10)
    assert len(set(turns.tolist())) == 1 and turns[0] > 0, (name, amplitude, period, turns)
    assert cifar_study.rounds(config, steps_per_epoch) >= 1


def test_study_checks_its_design():
  with pytest.raises(ValueError, match=r"seeds \[1\] in both"):
    dataclasses.replace(CPU_STUDY, seeds=(1, 20))
  with pytest.raises(ValueError, match="A > 1"):
    dataclasses.replace(CPU_STUDY, cells=((1.0, 38),))
  with pytest.raises(ValueError, match="same number of turns.*period=39.*\\[2, 12, 38\\]"):
    dataclasses.replace(CPU_STUDY, cells=((2.0, 39),))
  with pytest.raises(ValueError, match="period >= 2"):
    dataclasses.replace(CPU_STUDY, cells=((2.0, 1),))
  fixed = dataclasses.replace(CPU_STUDY, cell=(3.0, 12))
  assert cifar_study.chosen_cell(fixed, None) == (3.0, 12)


def _record(accuracy):
  return store.Record(cifar_study.RUN_NAME, {}, {}, {"test_accuracy": np.array([0.1, accuracy])})


def test_the_screen_chooses_the_largest_mean_paired_gain():
  study = dataclasses.replace(CPU_STUDY, cells=((2.0, 12), (4.0, 12)), screen_seeds=(0, 1))
  # static 0.50 / 0.40; cell 1: +0.05 and -0.03 (mean +0.01); cell 2: +0.02 twice (+0.02).
  # A rule on the dynamical accuracies alone would pick cell 1 (its 0.55 is the best run).
  runs = [_record(v) for v in (0.50, 0.40, 0.55, 0.37, 0.52, 0.42)]
  assert cifar_study.chosen_cell(study, runs) == (4.0, 12)
  cells = cifar_study.screen_cells(study, runs)
  assert [round(c.gain, 6) for c in cells] == [0.01, 0.02]
  assert cifar_study.chosen_cell(study, runs[:5] + [None]) is None


def test_a_screen_where_every_cell_diverged_has_no_cell():
  study = dataclasses.replace(CPU_STUDY, cells=((4.0, 12),), screen_seeds=(0,))
  with pytest.raises(ValueError, match=r"every screened cell has a diverged run.*\(4.0, 12\)"):
    cifar_study.chosen_cell(study, [_record(0.5), _record(np.nan)])


def test_comparison_is_paired_by_seed():
  study = dataclasses.replace(CPU_STUDY, cell=(2.0, 12), seeds=(10, 11, 12))
  results = {"static": [_record(v) for v in (0.50, 0.60, 0.70)],
             "dynamical": [_record(v) for v in (0.51, 0.61, 0.72)]}
  result = cifar_study.comparison(study, results)
  # paired: d = (0.01, 0.01, 0.02); an unpaired comparison would see the 0.1 spread of seeds
  assert result.gain.mean == pytest.approx(0.04 / 3)
  assert 0.01 - 1e-12 <= result.gain.low and result.gain.high <= 0.02 + 1e-12
  assert result.detectable == pytest.approx(2.8016 * np.std([0.01, 0.01, 0.02], ddof=1)
                                            / np.sqrt(3), rel=1e-3)
  results["dynamical"][1] = None
  assert cifar_study.comparison(study, results) is None


def test_stored_only_returns_none_for_missing_runs(tmp_path):
  results = cifar_study.run_study(CPU_STUDY, tmp_path, parts=["static", "dynamical"],
                                  stored_only=True, progress=False)
  count = len(CPU_STUDY.seeds)
  assert results["static"] == [None] * count and results["dynamical"] == [None] * count
  missing = cifar_study.missing_runs(CPU_STUDY, results)
  assert len(missing) == count + 1 and f"{count} dynamical runs" in missing[-1]


def test_confirmation_uses_the_screens_choice(tmp_path):
  # 30 images at batch 3: 10 steps per epoch; 3 oscillating epochs = one round at T = 2
  data = _arrays(n_train=30, n_test=4)
  source = _write_npz(tmp_path / "c.npz", data)
  study = cifar_study.Study(
      data="full", base=minibatch.CifarConfig(width=2, batch_size=3, epochs=4, static_epochs=1,
                                              learning_rate=0.05, period=2, train_size=30),
      cells=((3.0, 2), (6.0, 2)), screen_seeds=(0,), seeds=(1,))
  results = cifar_study.run_study(study, tmp_path, parts=["dynamical"], source=source,
                                  progress=False)
  assert list(results) == ["dynamical"]
  screen = cifar_study.run_study(study, tmp_path, parts=["screen"], stored_only=True)["screen"]
  gains = [c.gain for c in cifar_study.screen_cells(study, screen)]
  best = study.cells[int(np.argmax(gains))]
  assert len(list(tmp_path.glob("cifar10-run-*.npz"))) == 4
  # The run actually trained on seed 1 is the chosen cell's (read back from the store).
  import json
  trained = []
  for path in tmp_path.glob("cifar10-run-*.npz"):
    with np.load(path) as stored:
      run = json.loads(str(stored["__meta__"]))["config"]["run"]
    if run["seed"] == 1:
      trained.append((run["amplitude"], run["period"]))
  assert trained == [best]


def test_cli_runs_and_stores(tmp_path, capsys):
  source = _write_npz(tmp_path / "c.npz", _arrays(n_train=30))
  argv = ["cifar10", "--data", str(source), "--width", "2", "--epochs", "4", "--static-epochs",
          "1", "--batch-size", "3", "--amplitude", "1,3", "--period", "2", "--results-dir",
          str(tmp_path / "r"), "--checkpoint-dir", str(tmp_path / "ck"), "--json",
          "--no-progress"]
  assert cli.main(argv) == 0
  assert len(capsys.readouterr().out.strip().splitlines()) == 2
  assert len(list((tmp_path / "r").glob("cifar10-run-*.npz"))) == 2


@pytest.mark.parametrize("extra, message", [
    (["--batch-size", "64"], "batch_size=64"),
    (["--data", "EMPTY"], "no CIFAR-10 files"),
    (["--batch-size", "4", "--amplitude", "3", "--period", "3"], "same number of turns"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, extra, message):
  (tmp_path / "empty").mkdir()
  source = _write_npz(tmp_path / "c.npz", _arrays())
  extra = [str(tmp_path / "empty") if e == "EMPTY" else e for e in extra]
  argv = ["cifar10", "--data", str(source), "--width", "2", "--epochs", "1",
          "--results-dir", str(tmp_path / "r"), "--no-progress", *extra]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err
  assert message in err and len(err.strip().splitlines()) == 1


def test_every_stored_cifar_run_belongs_to_a_stored_study():
  # The chapter loads the CPU and the H200 study and the fitting regime's pilots; a stored run
  # outside them would be an orphan.
  from dynloss_book import cifar_fit
  folder = Path(__file__).resolve().parents[1] / "book" / "results"
  expected = set()
  for name in ("myrtle5-64-cpu", "myrtle5-64-gpu"):
    study = cifar_study.STUDIES[name]
    results = cifar_study.run_study(study, folder, stored_only=True, progress=False)
    configs = cifar_study.study_configs(study, cifar_study.chosen_cell(study, results["screen"]))
    label = cifar_study.data_label(study.data)
    expected |= {store.path_of(folder, cifar_study.RUN_NAME, c, {"run": c.to_dict(),
                                                                 "data": label})
                 for runs in configs.values() for c in runs if c is not None}
    # what is stored is a prefix of the design's order: the whole screen, then whole pairs
    # (the H200 study's WRN part was cut short by its time budget: a static run without its
    # pair there is allowed)
    assert None not in results["screen"]
    for static, dynamical in zip(results["static"], results["dynamical"]):
      assert (static is None) == (dynamical is None), "a confirmation seed without its pair"
    for runs in results.values():
      for run in runs:
        assert run is None or run.environment["cpu_count"] >= 1
  label = cifar_study.data_label("subset")
  expected |= {store.path_of(folder, cifar_study.RUN_NAME, c, {"run": c.to_dict(), "data": label})
               for c in cifar_fit.PILOTS.values()}
  assert set(folder.glob(f"{cifar_study.RUN_NAME}-*.npz")) <= expected
  results = cifar_study.run_study(CPU_STUDY, folder, stored_only=True, progress=False)
  if "cifar10_myrtle5_64" not in registry.IN_PROGRESS:
    assert not cifar_study.missing_runs(CPU_STUDY, results)


# --- tests that a wrong pipeline would fail ---------------------------------------------------

def _fed_indices(config, data, monkeypatch):
  """The minibatch indices ``minibatch.train`` feeds to each step (python loop), per epoch."""
  from dynloss_lib import minibatch_program
  program = minibatch_program.program(minibatch_program.compile_key(config),
                                      minibatch.steps_per_epoch(len(data.y_train),
                                                                config.batch_size), "python")
  fed = []
  step = program.step

  def recording(state, x, y, indices, key, hyper):
    fed.append((np.asarray(indices).copy(), np.asarray(jax.random.key_data(key)
                                                      if jnp.issubdtype(key.dtype,
                                                                        jax.dtypes.prng_key)
                                                      else key).copy()))
    return step(state, x, y, indices, key, hyper)
  monkeypatch.setattr(program, "step", recording)
  minibatch.train(config, data, progress=False, loop="python")
  spe = program.steps_per_epoch
  return [fed[e * spe:(e + 1) * spe] for e in range(config.epochs)]


def test_each_epoch_draws_a_new_order_and_new_augmentation(monkeypatch):
  data = _arrays(n_train=12)
  config = minibatch.CifarConfig(width=2, batch_size=4, epochs=3, learning_rate=0.01)
  epochs = _fed_indices(config, data, monkeypatch)
  orders = [np.concatenate([indices for indices, _ in epoch]) for epoch in epochs]
  for order in orders:
    assert sorted(order.tolist()) == list(range(12))  # every image once per epoch
  assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
  keys = [key.tobytes() for epoch in epochs for _, key in epoch]
  assert len(set(keys)) == len(keys)  # a new augmentation key at every step


def test_paired_arms_share_initialisation_and_data_order(monkeypatch):
  # The confirmation pairs a static and a dynamical run of one seed: the same initial
  # parameters and the same minibatches, so their difference is the loss's alone.
  data = _arrays(n_train=12)
  static = minibatch.CifarConfig(width=2, batch_size=4, epochs=2, learning_rate=0.01)
  dynamical = static.replace(amplitude=4.0, period=2)
  fed_static = _fed_indices(static, data, monkeypatch)
  fed_dynamical = _fed_indices(dynamical, data, monkeypatch)
  for a, b in zip(sum(fed_static, []), sum(fed_dynamical, [])):
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
  inits = [minibatch.Trainer(c, 12).init_state()["params"] for c in (static, dynamical)]
  for a, b in zip(jax.tree_util.tree_leaves(inits[0]), jax.tree_util.tree_leaves(inits[1])):
    np.testing.assert_array_equal(a, b)
  other_seed = _fed_indices(static.replace(seed=1), data, monkeypatch)
  assert not np.array_equal(other_seed[0][0][0], fed_static[0][0][0])


def test_training_never_sees_the_test_images():
  # Training on a data set whose test images are replaced gives the same parameters.
  data = _arrays(n_train=8, n_test=4)
  other = data._replace(x_test=255 - data.x_test)
  config = minibatch.CifarConfig(**TINY)
  runs = [minibatch.train(config, d, progress=False) for d in (data, other)]
  for a, b in zip(jax.tree_util.tree_leaves(runs[0].state["params"]),
                  jax.tree_util.tree_leaves(runs[1].state["params"])):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(runs[0].history["train_loss"], runs[1].history["train_loss"])


def test_warmup_cosine_learning_rate_beyond_step_zero():
  from dynloss_lib.minibatch_program import optimizer
  config = minibatch.CifarConfig(learning_rate=0.1, warmup_fraction=0.2, momentum=0.0,
                                 weight_decay=0.0)
  total = 50  # warmup w = 10 steps, then cosine to step 50
  tx = optimizer(config, total)
  params = {"w": jnp.zeros(())}
  state = tx.init(params)
  rates = []
  for _ in range(total + 1):
    updates, state = tx.update({"w": jnp.ones(())}, state, params)
    rates.append(-float(updates["w"]))  # plain SGD on a unit gradient: the update is -eta(t)
  w = 10
  assert rates[0] == 0.0
  assert rates[5] == pytest.approx(0.1 * 5 / w)
  assert rates[w] == pytest.approx(0.1)
  assert rates[30] == pytest.approx(0.05 * (1 + np.cos(np.pi * (30 - w) / (total - w))))
  assert rates[total] == pytest.approx(0.0, abs=1e-12)
  assert all(a >= b for a, b in zip(rates[w:], rates[w + 1:]))  # decays after the warmup


def test_train_step_called_on_its_own_is_one_sgd_step_on_the_weighted_loss():
  # The module-level step (as flax examples layer it): its loss is the dynamical loss of the
  # batch at Gamma(step), and its update is the optimiser's update of that loss's gradient.
  import optax
  from dynloss_lib import minibatch_program
  config = minibatch.CifarConfig(width=2, batch_size=4, epochs=1, amplitude=5.0, period=3,
                                 augment=False)
  trainer = minibatch.Trainer(config, train_size=8)
  state = trainer.init_state()
  state["step"] = jnp.asarray(2, jnp.int32)  # mid-cycle: Gamma is not 1
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
  labels = jnp.array([0, 3, 3, 7])
  new, metrics = minibatch_program.train_step(
      trainer.model, trainer.tx, "cross_entropy", minibatch_program.class_weights(config), False,
      state, (images, labels, None), trainer.hyper)
  gamma = trainer.gamma(2)
  assert float(gamma.max()) > 1.0

  def loss(params):
    logits, _ = trainer.model.apply({"params": params, "batch_stats": state["batch_stats"]},
                                    cifar.normalise(images), train=True, mutable=["batch_stats"])
    return dynamical_cross_entropy(logits, labels, gamma)
  value, grads = jax.value_and_grad(loss)(state["params"])
  updates, _ = trainer.tx.update(grads, state["opt_state"], state["params"])
  expected = optax.apply_updates(state["params"], updates)
  assert float(metrics[0]) == pytest.approx(float(value), rel=1e-6)
  for a, b in zip(jax.tree_util.tree_leaves(new["params"]), jax.tree_util.tree_leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert int(new["step"]) == 3


def test_evaluation_counts_only_the_real_test_images():
  # 7 test images in batches of 3: two padding images (label 0) fill the last batch. Counting
  # them would change both the accuracy's numerator and its denominator.
  config = minibatch.CifarConfig(width=2, batch_size=4, epochs=1, eval_batch_size=3)
  trainer = minibatch.Trainer(config, train_size=8)
  state = trainer.init_state()
  rng = np.random.default_rng(1)
  images = rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
  logits = trainer.model.apply({"params": state["params"], "batch_stats": state["batch_stats"]},
                               cifar.normalise(images), train=False)
  predicted = np.asarray(jnp.argmax(logits, -1))
  labels = predicted.copy()
  labels[:3] = (predicted[:3] + 1) % 10  # 4 of 7 right
  loss, accuracy = trainer.evaluate(state, images, labels)
  assert accuracy == pytest.approx(4 / 7)
  from dynloss_lib import losses
  assert loss == pytest.approx(float(jnp.mean(losses.cross_entropy(logits, jnp.asarray(labels)))),
                               rel=1e-5)


def test_cifar10_study_command_prints_the_stored_runs(capsys):
  # The --study path of the CLI, on the stored myrtle5-64-cpu study (nothing is trained).
  import json
  folder = Path(__file__).resolve().parents[1] / "book" / "results"
  assert cli.main(["cifar10", "--study", "myrtle5-64-cpu", "--parts", "screen", "--results-dir",
                   str(folder), "--json", "--no-progress"]) == 0
  lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  stored = cifar_study.run_study(CPU_STUDY, folder, parts=["screen"], stored_only=True)["screen"]
  assert [(line["config"]["seed"], line["config"]["amplitude"]) for line in lines] == [
      (c.seed, c.amplitude) for c in cifar_study.study_configs(CPU_STUDY)["screen"]]
  assert [line["final_test_accuracy"] for line in lines] == [
      r.final["final_test_accuracy"] for r in stored]


def test_an_interrupted_study_holds_whole_pairs(monkeypatch, tmp_path):
  # The screen first, then each confirmation seed's static run directly before its
  # dynamical run, then the horizon: stopping anywhere leaves complete pairs.
  trained = []

  def fake_run(config, *args, **kwargs):
    trained.append(config)
    accuracy = 0.3 + 0.01 * config.amplitude + 0.001 * config.period  # (4, 38) wins
    return store.Record(cifar_study.RUN_NAME, {}, {}, {"test_accuracy": np.array([accuracy])})

  from dynloss_book import cifar_runs
  monkeypatch.setattr(cifar_runs, "run_config", fake_run)
  results = cifar_study.run_study(CPU_STUDY, tmp_path, progress=False, engine="one")
  configs = cifar_study.study_configs(CPU_STUDY, (4.0, 38))
  screen = len(configs["screen"])
  assert trained[:screen] == configs["screen"]
  pairs = [c for pair in zip(configs["static"], configs["dynamical"]) for c in pair]
  assert trained[screen:screen + len(pairs)] == pairs
  assert trained[screen + len(pairs):] == configs["horizon"]
  assert [r.history["test_accuracy"][0] for r in results["dynamical"]] == [
      pytest.approx(0.3 + 0.04 + 0.038)] * len(CPU_STUDY.seeds)
