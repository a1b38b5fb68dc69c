"""``Mesh``: D data-parallel replicas x M model shards, and the communicators of its two dimensions."""


class Mesh:
    """A D x M grid of ranks: replica ``d`` is split over model ranks ``m``; global rank ``r = d * M + m``.

    A ``Mesh`` is a plain description (it pickles, so the driver can ship it). On a rank, ``mesh.bind(comm)``
    returns a bound copy that also holds ``comm`` (the whole gang), ``model_comm`` (the M ranks of this rank's
    replica, for the sharded layers' collectives) and ``data_comm`` (the D ranks that hold the same shard in
    each replica, for gradient all-reduce or weight averaging).

    Args:
        data: the number of replicas, D.
        model: the number of model shards per replica, M.
    """

    def __init__(self, data=1, model=1):
        for name, value in (("data", data), ("model", model)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Mesh: {name} must be a positive integer, got {value!r}")
        self.data, self.model = data, model
        self.comm = self.model_comm = self.data_comm = None

    @property
    def world_size(self):
        """All ranks of the mesh, D * M."""
        return self.data * self.model

    def coords(self, rank):
        """``(d, m)``: the replica and the model shard of global rank ``rank``."""
        if not 0 <= rank < self.world_size:
            raise ValueError(f"rank {rank} is not in a {self.data} x {self.model} mesh of {self.world_size} ranks")
        return divmod(rank, self.model)

    def rank_of(self, d, m):
        """The global rank of replica ``d``, model shard ``m``."""
        return d * self.model + m

    def model_ranks(self, d):
        """The global ranks of replica ``d``, in model-shard order."""
        return [self.rank_of(d, m) for m in range(self.model)]

    def data_ranks(self, m):
        """The global ranks that hold model shard ``m``, in replica order."""
        return [self.rank_of(d, m) for d in range(self.data)]

    def bind(self, comm):
        """A copy of this mesh bound to the gang's communicator (a collective: every rank of ``comm`` calls it).

        Makes every model group and every data group with ``comm.new_group``, in one fixed order on all ranks.
        """
        if comm.world_size != self.world_size:
            raise ValueError(f"a {self.data} x {self.model} mesh needs {self.world_size} ranks, the communicator "
                             f"has {comm.world_size}")
        bound = Mesh(self.data, self.model)
        bound.comm = comm
        for d in range(self.data):
            group = comm.new_group(self.model_ranks(d))
            bound.model_comm = group if group is not None else bound.model_comm
        for m in range(self.model):
            group = comm.new_group(self.data_ranks(m))
            bound.data_comm = group if group is not None else bound.data_comm
        return bound

    @property
    def rank(self):
        """This rank's global rank (a bound mesh only)."""
        return self._bound().rank

    @property
    def data_rank(self):
        """This rank's replica, d (a bound mesh only)."""
        return self.coords(self._bound().rank)[0]

    @property
    def model_rank(self):
        """This rank's model shard, m (a bound mesh only)."""
        return self.coords(self._bound().rank)[1]

    def _bound(self):
        if self.comm is None:
            raise ValueError(f"{self!r} is not bound to a gang; on each rank use mesh.bind(comm)")
        return self.comm

    def __getstate__(self):
        # communicators stay on their rank: a pickled mesh is its description only
        return {"data": self.data, "model": self.model}

    def __setstate__(self, state):
        self.__init__(state["data"], state["model"])

    def __eq__(self, other):
        return isinstance(other, Mesh) and (self.data, self.model) == (other.data, other.model)

    def __hash__(self):
        return hash((self.data, self.model))

    def __repr__(self):
        where = f", rank {self.rank} = (d {self.data_rank}, m {self.model_rank})" if self.comm is not None else ""
        return f"Mesh(data={self.data}, model={self.model}{where})"
