"""Import JAX, TensorFlow and neural-tangents once, dropping two known lines of start-up noise.

TensorFlow and jaxlib each register CUDA plugins (cuDNN, cuBLAS, cuFFT) when imported, and the
second registration is logged as an error by C++ code before its logging is configured
(TF_CPP_MIN_LOG_LEVEL does not reach it), although everything here runs on the CPU. The
imports run with file descriptor 2 captured; every captured line except those is printed again.
"""

import os
import re
import sys
import tempfile

_NOISE = re.compile(r"Unable to register cu(DNN|BLAS|FFT) factory|"
                    r"All log messages before absl::InitializeLog\(\) is called")


def _import_filtering_noise():
  with tempfile.TemporaryFile() as captured:
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(captured.fileno(), 2)
    try:
      import jax  # noqa: F401
      import tensorflow  # noqa: F401
      import neural_tangents  # noqa: F401
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      for line in captured.read().decode(errors="replace").splitlines():
        if not _NOISE.search(line):
          print(line, file=sys.stderr)


_import_filtering_noise()
