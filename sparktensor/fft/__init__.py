"""The Array API standard's Fourier transform extension (2024.12), differentiable, on NumPy and CuPy tensors.

``fft``, ``ifft``, ``fftn``, ``ifftn``, ``rfft``, ``irfft``, ``rfftn``, ``irfftn``, ``hfft``, ``ihfft``,
``fftfreq``, ``rfftfreq``, ``fftshift`` and ``ifftshift`` take the standard's arguments (``n``/``axis`` or
``s``/``axes``, ``norm`` one of ``"backward"``, ``"ortho"``, ``"forward"``); PyTorch's ``dim=`` names the same
axes. float32 and complex64 inputs give complex64 (or float32) results, float64 and complex128 give complex128
(or float64); integers transform as the default float dtype. Gradients follow PyTorch's convention for complex
values (conjugate Wirtinger) and match ``torch.fft``'s; each backward is itself a transform, so it can be
differentiated again. ``view_as_real`` and ``view_as_complex`` turn complex results into real ones and back.
``numpy.fft``'s functions called on tensors come here (``NUMPY_FUNCTIONS``).
"""
from .complex_transforms import fft, fft2, fftn, ifft, ifft2, ifftn
from .frequencies import fftfreq, fftshift, ifftshift, rfftfreq
from .numpy_table import NUMPY_FUNCTIONS
from .real_transforms import hfft, ihfft, irfft, irfft2, irfftn, rfft, rfft2, rfftn
from .views import view_as_complex, view_as_real

__all__ = ["fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft", "ihfft", "fftfreq",
           "rfftfreq", "fftshift", "ifftshift", "fft2", "ifft2", "rfft2", "irfft2", "view_as_real",
           "view_as_complex"]
