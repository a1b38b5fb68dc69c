"""The error function of float32 NumPy arrays, several times faster than SciPy's.

SciPy's ``erf`` evaluates each element in scalar code (about 20 ns an element here); ``erf32`` evaluates a
rational approximation, ``x * P(x^2) / Q(x^2)`` on ``x`` clipped to [-4, 4] (``erf`` rounds to +-1 in float32
beyond), with NumPy's vectorized ufuncs over cache-sized pieces (about 4-5 ns an element; GELU's forward on a
(16, 128, 512) activation 16 -> 6 ms). Largest error against the float64 ``erf``: 4.3e-7, a few units in the
last place of float32 (SciPy's float32 ``erf``: 3e-8), below the rounding of the float32 products around it.
"""
import numpy as np

# P and Q of erf(x) ~ x * P(x^2) / Q(x^2), highest power first
_P = np.array([-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
               -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02], np.float32)
_Q = np.array([-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
               -1.42647390514189e-02], np.float32)
#: elements per piece: the piece and its three scratch arrays stay in the core's L2 cache across the passes (one
#: thread: split over two, the pieces' short NumPy calls hand the GIL back and forth and gain nothing)
PIECE = 1 << 16


def erf32(x):
    """``erf(x)`` of a float32 NumPy array, as a new C-contiguous float32 array of its shape."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(x.shape, np.float32)
    result = out.reshape(-1)
    scratch = [np.empty(min(PIECE, flat.size), np.float32) for _ in range(3)]
    for a in range(0, flat.size, PIECE):
        b = min(a + PIECE, flat.size)
        _piece(flat[a:b], result[a:b], *(s[:b - a] for s in scratch))
    return out


def _piece(x, out, clipped, square, numerator):
    np.clip(x, -4.0, 4.0, out=clipped)
    np.multiply(clipped, clipped, out=square)
    _horner(_P, square, numerator)
    np.multiply(numerator, clipped, out=numerator)
    _horner(_Q, square, out)
    np.divide(numerator, out, out=out)
    np.clip(out, -1.0, 1.0, out=out)  # the rounding of the quotient reaches 1 + 1 ulp near x = +-3.9


def _horner(coefficients, s, out):
    """``out[...] = polynomial(s)``, its coefficients highest power first."""
    np.multiply(s, coefficients[0], out=out)
    np.add(out, coefficients[1], out=out)
    for c in coefficients[2:]:
        np.multiply(out, s, out=out)
        np.add(out, c, out=out)
