"""One formula, two evaluators: numpy arrays (many iterations) or Python floats (one iteration).

Every timing formula of the families is written once, as a function of an ``ops`` namespace and of operands
that are either float64 arrays (``VEC``) or Python floats (``SCALAR``). Both evaluators perform the same
IEEE-754 operations in the same order, so a scalar call is bit-identical to the matching element of a vector
call (the engine may price the same iteration either way; DESIGN.md "Speed"):

* ``+ - * /`` are correctly rounded in both numpy and Python;
* ``maximum``/``minimum`` are ``np.maximum``/``np.minimum`` and the builtins ``max``/``min`` (same value for the
  non-NaN operands the formulas see; no signed zeros arise);
* ``where(cond, a, b)`` is ``np.where`` and a Python conditional;
* ``power`` is the C library's ``pow`` in BOTH evaluators: ``math.pow`` on Python floats, and ``math.pow``
  applied element by element (``np.frompyfunc``) on arrays. numpy's own float64 ``power`` loop may use a SIMD
  implementation (SVML on AVX-512 machines) whose last bit differs from libm for a few percent of non-integer
  exponents, so it is not used. The scalar call is ~0.1 us (one iteration prices a few powers); the vector
  one ~0.1 us per element, paid once per decode-table block of 1,024 iterations.
* ``power2(x1, x2, y)`` is ``(x1^y, x2^y)``: two powers with one exponent (the roofline's two operator classes).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_libm_pow = np.frompyfunc(math.pow, 2, 1)  # element by element, broadcasting like a ufunc; object result


def _vector_power(x: np.ndarray, y: np.ndarray | float) -> np.ndarray:
    return np.asarray(_libm_pow(x, y), dtype=np.float64)


def _scalar_power2(x1: float, x2: float, y: float) -> tuple[float, float]:
    return math.pow(x1, y), math.pow(x2, y)


def _vector_power2(x1: np.ndarray, x2: np.ndarray, y: float) -> tuple[np.ndarray, np.ndarray]:
    return _vector_power(x1, y), _vector_power(x2, y)


def _scalar_where(cond: bool, a: Any, b: Any) -> Any:
    return a if cond else b


class _Ops:
    """An evaluator: the few non-operator functions the formulas use."""

    __slots__ = ("name", "scalar", "maximum", "minimum", "power", "power2", "where")

    def __init__(self, name: str, scalar: bool, maximum, minimum, power, power2, where) -> None:  # noqa: ANN001
        self.name = name
        self.scalar = scalar
        self.maximum = maximum
        self.minimum = minimum
        self.power = power
        self.power2 = power2
        self.where = where

    def __repr__(self) -> str:
        return f"<ops {self.name}>"


#: float64 arrays (``BatchWork`` fields): one element per iteration
VEC = _Ops("vector", False, np.maximum, np.minimum, _vector_power, _vector_power2, np.where)
#: Python floats: a single iteration
SCALAR = _Ops("scalar", True, max, min, math.pow, _scalar_power2, _scalar_where)
