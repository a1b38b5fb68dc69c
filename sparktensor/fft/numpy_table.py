"""``numpy.fft`` on tensors: ``np.fft.rfft(t)`` is ``st.fft.rfft(t)``, keeping the graph, with NumPy's argument
names and order (``a, n, axis, norm, out`` and ``a, s, axes, norm, out``)."""
import numpy as np

from . import complex_transforms as C, frequencies as F, real_transforms as R


def _into(name, result, out):
    from ..numpy_protocols import _into  # imported when called: numpy_protocols builds its tables from this one
    return _into(name, result, out)


def _one(transform):
    name = f"fft.{transform.__name__}"

    def numpy_transform(a, n=None, axis=-1, norm=None, out=None):
        return _into(name, transform(a, n=n, axis=axis, norm=norm), out)
    return numpy_transform


def _many(transform, default_axes=None):
    name = f"fft.{transform.__name__}"

    def numpy_transform(a, s=None, axes=default_axes, norm=None, out=None):
        return _into(name, transform(a, s=s, axes=axes, norm=norm), out)
    return numpy_transform


def _shift(shift):
    def numpy_shift(x, axes=None):
        return shift(x, axes=axes)
    return numpy_shift


NUMPY_FUNCTIONS = {
    np.fft.fft: _one(C.fft), np.fft.ifft: _one(C.ifft), np.fft.rfft: _one(R.rfft), np.fft.irfft: _one(R.irfft),
    np.fft.hfft: _one(R.hfft), np.fft.ihfft: _one(R.ihfft),
    np.fft.fftn: _many(C.fftn), np.fft.ifftn: _many(C.ifftn), np.fft.rfftn: _many(R.rfftn),
    np.fft.irfftn: _many(R.irfftn), np.fft.fft2: _many(C.fft2, (-2, -1)), np.fft.ifft2: _many(C.ifft2, (-2, -1)),
    np.fft.rfft2: _many(R.rfft2, (-2, -1)), np.fft.irfft2: _many(R.irfft2, (-2, -1)),
    np.fft.fftshift: _shift(F.fftshift), np.fft.ifftshift: _shift(F.ifftshift),
}
