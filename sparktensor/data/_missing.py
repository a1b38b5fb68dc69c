"""Where downloaded data sets live, and the error that says how to install a missing one."""
import os
import pathlib

INSTALL_SCRIPT = ".ci/install-datasets"


class DatasetMissingError(FileNotFoundError):
    """A data set's files are not where the loader looked; the message gives the command that installs them."""


def data_dir():
    """The directory of downloaded data set archives: ``$SPARKTENSOR_DATA`` or ``~/.cache/sparktensor/datasets``."""
    configured = os.environ.get("SPARKTENSOR_DATA")
    if configured:
        return pathlib.Path(configured).expanduser()
    return pathlib.Path.home() / ".cache" / "sparktensor" / "datasets"


def missing(what, where, command, alternative=""):
    """A ``DatasetMissingError`` saying what was not found where, and the exact command that installs it."""
    return DatasetMissingError(f"{what} not found in {where}; install it with: {command} "
                               f"(or run {INSTALL_SCRIPT} from a sparktensor checkout, which installs every data set)"
                               + (f"; or {alternative}" if alternative else ""))


def find_download(root, pattern, spec):
    """The archive matching ``pattern`` in ``root`` (default ``data_dir()``), or ``root`` itself when it is a file."""
    root = data_dir() if root is None else pathlib.Path(root).expanduser()
    if root.is_file():
        return root
    matches = sorted(root.glob(pattern)) if root.is_dir() else []
    if not matches:
        raise missing(pattern, root, f"pip download --no-deps -d {root} {spec}")
    return matches[-1]
