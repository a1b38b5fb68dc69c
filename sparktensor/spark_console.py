"""A quiet console for the Spark the ``sparktensor`` command starts in this process: WARN and above, without
the four lines every start prints (the JVM's "Using incubator modules", Spark's log4j profile line, printed
twice, the loopback-hostname WARN and Hadoop's NativeCodeLoader WARN).

``quiet_launch()`` wraps the start of the JVM: it points log4j at ``log4j2-quiet.properties`` (unless the user
gave a log4j configuration of their own, which wins) and passes the JVM's stderr through a filter that drops
the incubator line. ``sc.setLogLevel("INFO")`` or a log4j file of one's own still turns logging up.
"""
import contextlib
import os
import re
import sys
import threading

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2-quiet.properties")
DROPPED = re.compile(rb"^WARNING: Using incubator modules")


def _user_configured():
    """Whether the user chose log4j's configuration (a JVM option, or a log4j2 file in SPARK_CONF_DIR)."""
    options = os.environ.get("SPARK_SUBMIT_OPTS", "") + os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    conf_dir = os.environ.get("SPARK_CONF_DIR")
    own = conf_dir and any(os.path.exists(os.path.join(conf_dir, n)) for n in ("log4j2.properties", "log4j2.xml"))
    return "log4j2.configurationFile" in options or "log4j.configuration" in options or bool(own)


def _forward(source, target):
    """Copy lines from the pipe ``source`` to the file descriptor ``target``, without the dropped ones."""
    with os.fdopen(source, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not DROPPED.match(line))
            if kept:
                os.write(target, kept)
        if pending and not DROPPED.match(pending):
            os.write(target, pending)


@contextlib.contextmanager
def quiet_launch():
    """Within the block, a JVM that Spark launches logs at WARN through the quiet configuration, and its
    stderr reaches ours through the filter for as long as it runs. A JVM already running is left as it is."""
    if "PYSPARK_GATEWAY_PORT" in os.environ:  # spark-submit started the JVM: its console is spark-submit's
        yield
        return
    before = os.environ.get("SPARK_SUBMIT_OPTS")
    if not _user_configured():
        os.environ["SPARK_SUBMIT_OPTS"] = f"{before or ''} -Dlog4j2.configurationFile=file:{CONFIG}".strip()
    try:
        sys.stderr.flush()
        try:
            kept_stderr = os.dup(2)
        except OSError:  # no stderr to filter (a daemon's closed fd 2): the JVM inherits none either
            yield
            return
        read_end, write_end = os.pipe()
        threading.Thread(target=_forward, args=(read_end, kept_stderr), name="spark-console", daemon=True).start()
        os.dup2(write_end, 2)  # the JVM inherits the pipe as its stderr
        os.close(write_end)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(kept_stderr, 2)  # ours again; the JVM keeps writing into the pipe
    finally:
        if before is None:
            os.environ.pop("SPARK_SUBMIT_OPTS", None)
        else:
            os.environ["SPARK_SUBMIT_OPTS"] = before
