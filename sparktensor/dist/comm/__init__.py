"""Collectives between the ranks of a gang: ring all-reduce, all-gather, reduce-scatter, broadcast, send/recv.

```python
from sparktensor.dist.comm import run_threads

def step(comm, x):
    return comm.all_reduce(x * (comm.rank + 1))       # every rank gets the same sum

totals = run_threads(step, 4, np.ones(3))             # 4 ranks on threads; results in rank order
```

Ranks reach each other through a transport: queues between threads of one process (``run_threads``), or
authenticated TCP connections between processes (``SocketTransport``, which the engines' ``run_gang`` sets
up). The collectives are the same code over both.
"""
from .communicator import Communicator
from .errors import CommError, CommTimeout
from .threads import run_threads

__all__ = ["CommError", "CommTimeout", "Communicator", "run_threads"]
