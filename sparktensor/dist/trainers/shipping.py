"""Shipping the model to the workers, and an error naming the attribute that cannot be pickled when it fails."""
import copy
import pickle

_MAX_DEPTH = 12


def ship(engine, obj, names):
    """``engine.ship(obj)``; a pickling failure is raised as a ``TypeError`` naming the attribute at fault."""
    try:
        return engine.ship(obj)
    except Exception as e:
        named = unpicklable_error(obj, names, e, _dumps())
        if named is e:
            raise
        raise named from e


def _dumps():
    """The pickler the engines use: cloudpickle (PySpark's copy, or the package), else pickle."""
    try:
        from pyspark import cloudpickle
        return cloudpickle.dumps
    except ImportError:
        try:
            import cloudpickle
            return cloudpickle.dumps
        except ImportError:
            return pickle.dumps


def copied(obj, names):
    """``copy.deepcopy(obj)`` (a tuple of things called ``names``), the attribute named that cannot be copied: an
    in-process engine copies what a Spark worker would unpickle, and fails where it would."""
    try:
        return copy.deepcopy(obj)
    except Exception as e:
        named = unpicklable_error(obj, names, e)
        if named is e:
            raise
        raise named from e


def unpicklable_error(obj, names, error, dumps=copy.deepcopy):
    """The error to raise when ``obj`` (a tuple of things called ``names``) cannot be pickled or copied: names the
    innermost attribute that fails (``model.encoder.log_file``, say) and its type; ``error`` unchanged if none."""
    for name, part in zip(names, obj):
        path = find_unpicklable(part, dumps, name)
        if path is not None:
            where, culprit = path
            return TypeError(f"{where} (a {type(culprit).__module__}.{type(culprit).__qualname__}) cannot be "
                             f"pickled, so the {names[0]} cannot be shipped to the workers ({error}); delete it or "
                             f"set it to None before training, or make it rebuild itself on unpickling "
                             f"(__getstate__/__setstate__)")
    return error


def find_unpicklable(value, dumps, name, depth=0, seen=None):
    """``(path, value)`` of the innermost part of ``value`` that ``dumps`` fails on, or None if it does not fail."""
    try:
        dumps(value)
        return None
    except Exception:
        pass
    seen = set() if seen is None else seen
    if depth < _MAX_DEPTH and id(value) not in seen:
        seen.add(id(value))
        for child_name, child in _children(value, name):
            found = find_unpicklable(child, dumps, child_name, depth + 1, seen)
            if found is not None:
                return found
    return name, value


def _children(value, name):
    """The named parts of ``value``: a module's submodules, parameters, buffers and attributes; dict entries;
    list and tuple items; an object's attributes."""
    if isinstance(value, dict):
        return [(f"{name}[{k!r}]", v) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [(f"{name}[{i}]", v) for i, v in enumerate(value)]
    state = getattr(value, "__dict__", None)
    if not isinstance(state, dict):
        return []
    parts = []
    for key, v in state.items():
        if key in ("_modules", "_parameters", "_buffers") and isinstance(v, dict):
            parts.extend((f"{name}.{k}", item) for k, item in v.items())
        else:
            parts.append((f"{name}.{key}", v))
    return parts
