"""Ring reduce-scatter and ring all-gather: each rank sends ``(n - 1) / n`` of the data twice per all-reduce.

In the reduce-scatter, chunk ``c`` starts at rank ``c + 1``, travels once around the ring and ends, fully
reduced, at rank ``c``: every chunk is reduced in one fixed order, once, so after the all-gather copies it
to the others every rank holds bit-identical results.
"""
import numpy as np


def reduce_scatter(comm, chunks, reduce):
    """Reduce ``chunks`` (one per rank, same shapes on every rank) over ``comm``; returns this rank's chunk."""
    n, rank = comm.world_size, comm.rank
    if n == 1:
        return np.array(chunks[0], copy=True)
    right, left = (rank + 1) % n, (rank - 1) % n
    outgoing = chunks[(rank - 1) % n]
    for step in range(n - 1):
        sent = comm._post(right, outgoing)
        index = (rank - step - 2) % n
        incoming = comm._recv(left)
        _check_match(comm, left, incoming, chunks[index], "reduce")
        outgoing = reduce(incoming, chunks[index], out=incoming)  # the transport gave us a new array: ours to change
        sent.wait(comm.timeout)
    return outgoing


def all_gather(comm, piece):
    """Every rank's ``piece`` (shapes may differ), as a list in rank order, on every rank."""
    n, rank = comm.world_size, comm.rank
    pieces = [None] * n
    pieces[rank] = piece
    right, left = (rank + 1) % n, (rank - 1) % n
    outgoing = piece
    for step in range(n - 1):
        sent = comm._post(right, outgoing)
        outgoing = pieces[(rank - step - 1) % n] = comm._recv(left)
        sent.wait(comm.timeout)
    return pieces


def _check_match(comm, peer, incoming, mine, what):
    if incoming.shape != mine.shape or incoming.dtype != mine.dtype:
        raise ValueError(f"cannot {what} arrays that differ between ranks: rank {comm.rank} holds a chunk of "
                         f"shape {mine.shape} dtype {mine.dtype}, rank {peer} sent shape {incoming.shape} dtype "
                         f"{incoming.dtype}; every rank must pass the same shape and dtype")
