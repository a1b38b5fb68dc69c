"""Whether operations record the graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

The mode is per thread, so ranks run as threads keep their own.
"""
import functools
import threading

class _State(threading.local):
    enabled = True


_state = _State()


def is_grad_enabled():
    """True when new operations record the graph for backward."""
    return _state.enabled


class set_grad_enabled:
    """Context manager (and decorator) that turns graph recording on or off."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self.prev = is_grad_enabled()
        _state.enabled = self.mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False


class _GradModeContext:
    mode = True

    def __enter__(self):
        self.prev = is_grad_enabled()
        _state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Context manager and decorator under which operations record no graph."""
    mode = False


class enable_grad(_GradModeContext):
    """Context manager and decorator that records the graph, even inside ``no_grad``."""
    mode = True


class inference_mode(_GradModeContext):
    """PyTorch's ``inference_mode``: records no graph (as ``no_grad``; here the two cost the same).
    ``inference_mode(False)`` leaves grad mode as it is."""

    def __init__(self, mode=True):
        self.enabled = bool(mode)

    def __enter__(self):
        self.prev = is_grad_enabled()
        if self.enabled:
            _state.enabled = False
        return self

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(self.enabled):
                return fn(*args, **kwargs)
        return wrapper
