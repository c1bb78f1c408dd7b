"""Every result the book loads is stored, under the key the current code derives.

Each registered experiment (what ``regenerate`` computes) runs with computing refused
(``DYNLOSS_STORED_ONLY=1``, as in the book build): it derives the keys of its configurations
from the current code and loads them, so a renamed field, a changed default or a lost file
fails here, naming the first missing configuration and the command that computes it, instead
of a chapter quietly recomputing for hours.
"""

import pytest

from dynloss_book import RESULTS, registry, store


@pytest.mark.parametrize("name", sorted(registry.EXPERIMENTS))
def test_every_configuration_the_book_loads_is_stored(name, monkeypatch):
  monkeypatch.setenv(store.STORED_ONLY, "1")
  try:
    registry.experiment(name)(RESULTS, recompute=False, progress=False)
  except store.MissingResult as missing:
    if name not in registry.IN_PROGRESS:
      pytest.fail(f"{name}: {missing}")
  else:
    # a study declared in progress that is complete must say so (and its chapter with it)
    assert name not in registry.IN_PROGRESS, (
        f"{name} is stored in full: remove it from registry.IN_PROGRESS")


def test_computing_into_the_book_results_is_refused_during_the_build(monkeypatch, tmp_path):
  monkeypatch.setenv(store.STORED_ONLY, "1")
  compute = lambda: pytest.fail("computed")
  with pytest.raises(store.MissingResult, match="regenerate --only-missing"):
    store.cached(RESULTS, "demo", {"never": "stored"}, compute)
  record = store.cached(tmp_path, "demo", {"n": 1},
                        lambda: store.Record("demo", {"n": 1}, {"total": 1}))
  assert record.final == {"total": 1}  # other folders compute as usual


def test_every_stored_result_records_its_environment():
  unrecorded = [path.name for path in sorted(RESULTS.glob("*.npz"))
                if not store.read(path).environment]
  assert not unrecorded, f"{len(unrecorded)} stored results record no environment: {unrecorded[:5]}"
