"""Logic gates, the fundamentals: Rosenblatt's perceptron learns AND and OR, cannot learn
XOR (it is not linearly separable), and a small multilayer perceptron then solves XOR.

    python examples/logic_gates.py                 # on the CPU
    python examples/logic_gates.py --device gpu    # the same on the GPU

The perceptron follows the classic rule from zero weights, samples in the order
(0,0), (0,1), (1,0), (1,1): y_hat = step(b + w.x) with step(0) = 1, then
w += lr*(y - y_hat)*x and b += lr*(y - y_hat).
"""

import argparse
import warnings

import numpy as np

import ember as em

parser = argparse.ArgumentParser()
parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
parser.add_argument("--learning-rate", type=float, default=1.0, help="perceptron learning rate")
parser.add_argument("--max-epochs", type=int, default=100, help="perceptron epochs at most")
parser.add_argument("--mlp-epochs", type=int, default=1000)
parser.add_argument("--seed", type=int, default=1)
args = parser.parse_args()

em.set_default_device(args.device)
em.utils.set_random_seed(args.seed)

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
GATES = {"AND": np.array([0, 0, 0, 1]), "OR": np.array([0, 1, 1, 1]), "XOR": np.array([0, 1, 1, 0])}

print(f"Rosenblatt perceptron (learning_rate={args.learning_rate}, max_epochs={args.max_epochs}, device={args.device})")
for gate, y in GATES.items():
    p = em.models.Perceptron(learning_rate=args.learning_rate, max_epochs=args.max_epochs)
    with warnings.catch_warnings():
        # The report below says the same; keep the output to one message per gate.
        warnings.simplefilter("ignore", em.models.NotLinearlySeparableWarning)
        p.fit(X, y)
    pred = p.predict(X)
    print(f"{gate}: converged={p.converged} epochs={p.epochs_run} bias={p.bias:g} "
          f"weights={[float(f'{w:g}') for w in p.weights]} predictions={pred.tolist()} targets={y.tolist()}")
    print(f"  {gate} {p.report}")

print()
print("Multilayer perceptron for XOR: 2 -> 4 (tanh) -> 1 (sigmoid), Adam, binary crossentropy")
model = em.Sequential([
    em.Input((2,)),
    em.layers.Dense(4, activation="tanh"),
    em.layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=em.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(X, GATES["XOR"].astype(np.float32).reshape(-1, 1), epochs=args.mlp_epochs, batch_size=4,
                    shuffle=False, verbose=0)
prob = model.predict(X, verbose=0).reshape(-1)
pred = (prob >= 0.5).astype(int)
print(f"MLP final loss={history.history['loss'][-1]:.4f}")
for xi, pi, yi in zip(X.astype(int).tolist(), prob.tolist(), pred.tolist()):
    print(f"  XOR{tuple(xi)} -> {pi:.3f} -> {yi}")
print(f"MLP XOR predictions={pred.tolist()} targets={GATES['XOR'].tolist()} solved={pred.tolist() == GATES['XOR'].tolist()}")
