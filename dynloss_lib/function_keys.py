"""Keys equal for functions that compute the same thing: the engine's compilation cache.

``training.run_batch`` compiles one program per model, loss, schedule and static setting; a
function made anew for each call (a lambda, ``model.apply`` of an equal model) must find the
program compiled for an equal one, and a different one must not.
"""

import inspect


class _Identity:
  """An unhashable value (an array) in a compilation key: equal only to itself, and kept
  alive by the key, so that its id is never reused by another value while cached."""

  def __init__(self, value):
    self.value = value

  def __hash__(self):
    return id(self.value)

  def __eq__(self, other):
    return isinstance(other, _Identity) and other.value is self.value


def function_key(fn):
  """A hashable key, equal for functions that compute the same thing.

  A bound method (``model.apply``) is keyed by its function and its object's value; a
  function (a lambda included) by its code, its defaults, the values it closes over (each
  keyed the same way) and the module globals it names (by value if hashable, else by
  identity: a global array assigned anew gives a new key); a hashable callable
  (:class:`~dynloss_lib.schedules.ClassWeights`) by its value; an unhashable value by identity.

  Examples:
    >>> make = lambda a: (lambda step: a * step)
    >>> function_key(make(2.0)) == function_key(make(2.0)), function_key(make(2.0)) == function_key(make(3.0))
    (True, False)
  """
  if inspect.ismethod(fn):
    return ("method", fn.__func__, function_key(fn.__self__))
  if inspect.isfunction(fn):
    cells = tuple(function_key(cell.cell_contents) for cell in fn.__closure__ or ())
    names = tuple(_by_value(fn.__globals__[n]) for n in fn.__code__.co_names
                  if n in fn.__globals__)
    return ("function", fn.__code__, function_key(fn.__defaults__), cells, names)
  if isinstance(fn, tuple):
    return tuple(function_key(v) for v in fn)
  return _by_value(fn)


def _by_value(value):
  try:
    hash(value)
  except TypeError:
    return _Identity(value)
  return value
