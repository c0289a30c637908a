"""One formula, two evaluators: numpy arrays (many iterations) or Python floats (one iteration).

Every timing formula of the families is written once, as a function of an ``ops`` namespace and of operands
that are either float64 arrays (``VEC``) or Python floats (``SCALAR``). Both evaluators perform the same
IEEE-754 operations in the same order, so a scalar call is bit-identical to the matching element of a vector
call (the engine may price the same iteration either way; DESIGN.md "Speed"):

* ``+ - * /`` are correctly rounded in both numpy and Python;
* ``maximum``/``minimum`` are ``np.maximum``/``np.minimum`` and the builtins ``max``/``min`` (same value for the
  non-NaN operands the formulas see; no signed zeros arise);
* ``where(cond, a, b)`` is ``np.where`` and a Python conditional;
* ``power`` is numpy's ``power`` ufunc in BOTH evaluators. Python's ``float.__pow__``/``math.pow`` call the C
  library's ``pow``, while numpy's float64 ``power`` loop may use its own SIMD implementation (SVML on
  AVX-512 machines), whose last bit differs from libm for a few percent of non-integer exponents. The scalar
  evaluator therefore calls the same ufunc on a 0-d operand (~1 us): the one place a scalar call touches numpy.
* ``power2(x1, x2, y)`` is ``(x1^y, x2^y)``: two powers with one exponent. The scalar evaluator takes both in
  one ufunc call on a 2-element array (numpy's power loop computes every element on its own, so an element's
  result does not depend on the array's length or its neighbours), which halves the per-call overhead of the
  formulas that need two independent powers (the roofline's two operator classes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_np_power = np.power
_np_array = np.array


def _scalar_power(x: float, y: float) -> float:
    return float(_np_power(x, y))


def _scalar_power2(x1: float, x2: float, y: float) -> tuple[float, float]:
    p1, p2 = _np_power(_np_array((x1, x2)), y).tolist()
    return p1, p2


def _vector_power2(x1: np.ndarray, x2: np.ndarray, y: float) -> tuple[np.ndarray, np.ndarray]:
    return _np_power(x1, y), _np_power(x2, y)


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
VEC = _Ops("vector", False, np.maximum, np.minimum, np.power, _vector_power2, np.where)
#: Python floats: a single iteration
SCALAR = _Ops("scalar", True, max, min, _scalar_power, _scalar_power2, _scalar_where)
