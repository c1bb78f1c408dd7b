"""A study's runs trained together (dynloss_lib.minibatch_many) equal the same runs trained one
by one, keep their own seeds and schedules, resume from a group checkpoint, and are stored by the
book's runner."""

import numpy as np
import pytest

from dynloss_lib import cifar, keyed_files, minibatch, minibatch_many

BASE = minibatch.CifarConfig(width=2, batch_size=8, epochs=2, learning_rate=0.05,
                             static_epochs=1, train_eval_every=1, period=2)
CONFIGS = [BASE.replace(seed=0), BASE.replace(seed=1, amplitude=3.0),
           BASE.replace(seed=2, amplitude=2.0, period=3, static_epochs=0)]
COMPARED = ("train_loss", "train_static_loss", "train_accuracy", "test_loss", "test_accuracy",
            "clean_train_loss", "clean_train_accuracy")


def _data(n=32):
  rng = np.random.default_rng(0)
  return cifar.CifarData(rng.integers(0, 256, (n, 32, 32, 3), np.uint8),
                         (np.arange(n) % 10).astype(np.int32),
                         rng.integers(0, 256, (n // 4, 32, 32, 3), np.uint8),
                         (np.arange(n // 4) % 10).astype(np.int32))


@pytest.fixture(scope="module")
def together():
  return minibatch_many.train_many(CONFIGS, _data(), progress=False)


def test_runs_trained_together_equal_the_runs_trained_one_by_one(together):
  for config, run in zip(CONFIGS, together):
    one = minibatch.train(config, _data(), progress=False, loop="scan")
    assert run.config == config and run.diverged_epoch is None
    for name in COMPARED:
      np.testing.assert_allclose(run.history[name], one.history[name], rtol=1e-5, atol=1e-6,
                                 err_msg=name)
    for a, b in zip(*(jax_leaves(r.state["params"]) for r in (run, one))):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
  # the runs are not copies of one another: seeds and schedules reach each run
  losses = [tuple(run.history["train_loss"]) for run in together]
  assert len(set(losses)) == len(CONFIGS)
  assert np.isfinite(together[0].history["clean_train_accuracy"]).all()


def jax_leaves(tree):
  import jax
  return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(tree)]


def test_a_group_resumes_from_its_checkpoint(together, tmp_path, monkeypatch):
  data = minibatch_many.device_data(_data(), BASE.eval_batch_size)
  saved = []
  real_save = keyed_files.save

  def save_then_stop(directory, name, config, arrays, meta):
    real_save(directory, name, config, arrays, meta)
    saved.append(meta["epochs_done"])
    raise KeyboardInterrupt  # stopped right after its first checkpoint

  monkeypatch.setattr(keyed_files, "save", save_then_stop)
  with pytest.raises(KeyboardInterrupt):
    minibatch_many.train_many(CONFIGS, data, checkpoint_dir=tmp_path, checkpoint_every=1,
                              progress=False)
  assert saved == [1] and list(tmp_path.glob("*.npz"))
  monkeypatch.setattr(keyed_files, "save", real_save)
  resumed = minibatch_many.train_many(CONFIGS, data, checkpoint_dir=tmp_path,
                                      checkpoint_every=1, progress=False)
  for a, b in zip(resumed, together):
    np.testing.assert_allclose(a.history["test_loss"], b.history["test_loss"], rtol=1e-6)
  assert not list(tmp_path.glob("*.npz"))  # removed once the runs are done


def test_bad_input_is_refused_with_its_value():
  with pytest.raises(ValueError, match="train_size=16"):
    minibatch_many.train_many([BASE.replace(train_size=16)], _data(), progress=False)
  data = minibatch_many.device_data(_data(), eval_batch_size=4)
  with pytest.raises(ValueError, match="eval_batch_size=1000"):
    minibatch_many.train_many([BASE], data, progress=False)


def test_the_book_runner_stores_runs_trained_together(tmp_path):
  from dynloss_book import cifar_runs, store
  label = {"name": "toy", "md5": "0"}
  found = cifar_runs.run_configs(CONFIGS[:2], _data, label, tmp_path, engine="many",
                                 progress=False)
  assert list(found) == CONFIGS[:2] and None not in found.values()
  for config, record in found.items():
    assert record.environment and record.final["final_clean_train_accuracy"] >= 0
    again = store.load(tmp_path, cifar_runs.RUN_NAME, config, {"run": config.to_dict(),
                                                               "data": label})
    np.testing.assert_array_equal(again.history["test_loss"], record.history["test_loss"])
  with pytest.raises(ValueError, match="engine='fast'"):
    cifar_runs.run_configs(CONFIGS, _data, label, tmp_path, engine="fast")


def test_runs_split_over_two_devices_equal_the_runs_on_one():
  # JAX makes extra CPU devices only before its first computation: a fresh interpreter
  import json
  import subprocess
  import sys
  import textwrap
  script = textwrap.dedent("""
      import json, jax
      jax.config.update("jax_num_cpu_devices", 2)
      import numpy as np
      from dynloss_lib import cifar, minibatch, minibatch_many
      rng = np.random.default_rng(0)
      data = cifar.CifarData(rng.integers(0, 256, (32, 32, 32, 3), np.uint8),
                             (np.arange(32) % 10).astype(np.int32),
                             rng.integers(0, 256, (8, 32, 32, 3), np.uint8),
                             (np.arange(8) % 10).astype(np.int32))
      base = minibatch.CifarConfig(width=2, batch_size=8, epochs=1, learning_rate=0.05,
                                   period=2)
      configs = [base.replace(seed=s, amplitude=1.0 + s) for s in range(3)]  # 3: one padded
      out = {d: [r.history["test_loss"].tolist() for r in
                 minibatch_many.train_many(configs, data, devices=d, progress=False)]
             for d in (1, 2)}
      print(json.dumps({"devices": len(jax.devices()), "out": out}))
  """)
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  found = json.loads(result.stdout.strip().splitlines()[-1])
  assert found["devices"] == 2
  np.testing.assert_allclose(found["out"]["1"], found["out"]["2"], rtol=1e-5)
