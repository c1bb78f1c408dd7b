"""pyproject.toml's dependency floors are the versions the project is tested with.

requirements.txt pins the tested environment exactly; every dependency of the package must be
pinned there, with its floor in pyproject.toml equal to that pin (older versions are untested).
"""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins():
  found = {}
  for line in (ROOT / "requirements.txt").read_text().splitlines():
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s#]+)", line.split("#")[0].strip())
    if match:
      found[match.group(1).lower()] = match.group(2)
  return found


def test_dependency_floors_are_the_tested_pins():
  from packaging.version import Version
  project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
  tested = pins()
  colab = {line.split("==")[0].lower(): line.split("==")[1].strip()
           for line in (ROOT / "tests" / "colab_runtime.txt").read_text().splitlines()
           if "==" in line and not line.startswith("#")}
  for requirement in project["dependencies"]:
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)>=([^,;\s]+)", requirement)
    assert match, f"pyproject.toml: {requirement!r} should read NAME>=TESTED_VERSION"
    name, floor = match.group(1).lower(), match.group(2)
    assert name in tested, f"{name} is a dependency but requirements.txt does not pin it"
    # the oldest tested version: the pin, or Colab's version where the Colab test runs with it
    assert floor in {tested[name], colab.get(name)}, (
        f"pyproject.toml: {name}>={floor}, but the tested versions are {tested[name]} "
        f"(requirements.txt) and {colab.get(name)} (tests/colab_runtime.txt)")
    assert Version(floor) <= Version(tested[name]), (name, floor)
