"""Fit a small two-layer network to a noisy sine with NumPy-style tensors and autodiff."""
import sparktensor as st

st.manual_seed(0)
x = st.linspace(-3, 3, 256).reshape(-1, 1)
y = st.sin(x) + 0.1 * st.randn(256, 1)

w1 = (st.randn(1, 32) * 0.5).requires_grad_()
b1 = st.zeros(32, requires_grad=True)
w2 = (st.randn(32, 1) * 0.2).requires_grad_()
b2 = st.zeros(1, requires_grad=True)
params = [w1, b1, w2, b2]

for step in range(1, 2001):
    prediction = st.tanh(x @ w1 + b1) @ w2 + b2
    loss = ((prediction - y) ** 2).mean()
    for p in params:
        p.grad = None
    loss.backward()
    with st.no_grad():
        for p in params:
            p -= 0.05 * p.grad
    if step % 500 == 0:
        print(f"step {step:4d}  mse {loss.item():.4f}")

print(f"final mse {loss.item():.4f} (noise variance 0.0100)")
