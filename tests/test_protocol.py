"""One protocol for both engines: a new loss, shape or model is one function and one entry,
and reaches the full-batch engine, the minibatch engine and the command lines."""

import json

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import pytest

from dynloss_lib import cli, cifar, convnets, losses, minibatch, schedules
from dynloss_lib.experiments import SpiralConfig, run_spiral


def toy_loss(outputs, labels, class_weights):
  """A class-weighted hinge loss (a new loss: this function and one entry)."""
  correct = jnp.take_along_axis(outputs, labels[:, None], axis=-1)[:, 0]
  margin = jnp.maximum(0.0, 1.0 + jnp.max(outputs, axis=-1) - correct)
  return jnp.mean(class_weights[labels] * margin)


def toy_shape(phase, amplitude, period):
  """Emphasise for the first half of each cycle (a new shape: this function and one entry)."""
  return jnp.where(phase < period / 2, amplitude, 1.0)


class ToyNet(nn.Module):
  width: int
  num_classes: int = 10

  @nn.compact
  def __call__(self, x, train=False):
    return nn.Dense(self.num_classes)(x.reshape(x.shape[0], -1).astype(jnp.float32))


@pytest.fixture
def registered(monkeypatch):
  monkeypatch.setitem(losses.DYNAMICAL_LOSSES, "toy_hinge", toy_loss)
  monkeypatch.setitem(schedules.SHAPES, "toy_half", toy_shape)
  monkeypatch.setitem(convnets.MODELS, "toy_net",
                      lambda width, depth, widen_factor, num_classes, dtype: ToyNet(width))


def _images(n_train=8, n_test=4):
  rng = np.random.default_rng(0)
  return cifar.CifarData(rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
                         (np.arange(n_train) % 10).astype(np.int32),
                         rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
                         (np.arange(n_test) % 10).astype(np.int32))


def test_a_new_loss_and_shape_reach_the_full_batch_engine(registered):
  config = SpiralConfig(width=8, amplitude=5.0, period=10, steps=40, loss="toy_hinge",
                        shape="toy_half")
  run = run_spiral(config, progress=False)
  assert np.isfinite(run.history["loss"]).all()
  gamma = run.history["gamma"]
  assert gamma[2].max() / gamma[2].min() == pytest.approx(5.0)  # first half: emphasised
  assert np.allclose(gamma[8], 1.0)                              # second half: static
  other = run_spiral(config.replace(loss="cross_entropy"), progress=False)
  assert not np.allclose(run.history["loss"], other.history["loss"])


def test_a_new_loss_shape_and_model_reach_the_minibatch_engine(registered):
  config = minibatch.CifarConfig(model="toy_net", width=2, batch_size=4, epochs=2,
                                 amplitude=3.0, period=2, loss="toy_hinge", shape="toy_half")
  run = minibatch.train(config, _images(), progress=False)
  assert np.isfinite(run.history["train_loss"]).all()
  trainer = minibatch.Trainer(config, 8)
  assert np.asarray(trainer.gamma(0)).max() / np.asarray(trainer.gamma(0)).min() == \
      pytest.approx(3.0)
  static = minibatch.train(config.replace(amplitude=1.0), _images(), progress=False)
  # the test loss is the new loss at weights 1, and the weighted training loss differs from it
  assert run.history["train_loss"][0] != pytest.approx(run.history["train_static_loss"][0])
  assert static.history["train_loss"][0] == pytest.approx(static.history["train_static_loss"][0])


def test_a_new_loss_and_shape_reach_the_command_line(registered, capsys):
  assert cli.main(["spiral", "--width", "8", "--steps", "30", "--period", "10", "--loss",
                   "toy_hinge", "--shape", "toy_half", "--json", "--no-progress",
                   "--cpu-isa", "native"]) == 0  # in this process JAX has started already
  line = json.loads(capsys.readouterr().out)
  assert line["config"]["loss"] == "toy_hinge" and line["config"]["shape"] == "toy_half"
