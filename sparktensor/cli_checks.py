"""Checks of the ``sparktensor`` command's arguments, all made before Spark starts: numbers by their argparse
types, the reachability of a ``spark://`` master by a short TCP connect, and one-line errors."""
import argparse
import math
import socket
import sys
from urllib.parse import urlsplit


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (the usage is in ``--help``), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text):
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def seed(text):
    """An argparse type: a random seed, an integer in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**32), got {text!r}") from None
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**32), got {text!r}")
    return value


def positive_float(text):
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return value


def check_master(master, timeout=5.0):
    """Raise a ValueError naming the host and the cause when no master of a ``spark://`` URL can be reached
    (Spark itself would retry for a minute and print pages of stack traces); other URLs pass unchecked."""
    if not master or not master.startswith("spark://"):
        return
    failures = []
    for address in master[len("spark://"):].split(","):
        parts = urlsplit(f"spark://{address}")
        host, port = parts.hostname, parts.port or 7077
        if not host:
            raise ValueError(f"--master {master!r}: {address!r} is not HOST:PORT")
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except socket.gaierror as e:
            failures.append(f"{host}:{port}: unknown host ({e.strerror or e})")
        except socket.timeout:
            failures.append(f"{host}:{port}: no answer within {timeout:g} s")
        except OSError as e:
            failures.append(f"{host}:{port}: {e.strerror or e}")
    raise ValueError(f"cannot reach the Spark master {master}: {'; '.join(failures)}")


def fail(message):
    """Print ``sparktensor: message`` on one line to stderr; returns the exit status 2."""
    print(f"sparktensor: {message}", file=sys.stderr)
    return 2
