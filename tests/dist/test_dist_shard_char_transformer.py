"""dist.shard on the zoo's character Transformer: heads and feed-forward blocks split at M = 2 and 4, outputs and
gradients equal the ordinary model's."""
import numpy as np
import pytest

import sparktensor as st
import sparktensor.dist as dist
import sparktensor.nn.functional as F
from sparktensor.models import CharTransformer
from shard_helpers import reference, run_sharded


@pytest.mark.parametrize("world_size", [2, 4])
def test_sharded_char_transformer_equals_the_ordinary_model(world_size, rng):
    st.manual_seed(5)
    model = CharTransformer(13, d_model=16, nhead=4, layers=2, max_len=10, dropout=0.0).double()
    x, y = rng.integers(0, 13, (3, 8)), rng.integers(0, 13, (3, 8))
    expected_out, expected_grads = reference(model, x, y, F.cross_entropy)
    outputs, shares, grads = run_sharded(model, x, y, F.cross_entropy, world_size)
    for rank, out in enumerate(outputs):
        np.testing.assert_allclose(out, expected_out, rtol=0, atol=1e-10, err_msg=f"output of rank {rank}")
    for name, g in expected_grads.items():
        np.testing.assert_allclose(grads[name], g, rtol=0, atol=1e-10, err_msg=name)
    assert sum(p.size for p in shares[0].parameters()) < sum(p.size for p in model.parameters())
    assert type(dist.gather(shares)) is CharTransformer
