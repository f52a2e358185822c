"""`ember.utils.model_to_dot` / `plot_model` (Keras 3's ``keras.utils.plot_model``): the
dot graph holds every layer and every connection of a functional model (checked against
the model's own config, Keras's ``inbound_nodes``), and with Graphviz installed a PNG is
written."""

from __future__ import annotations

import shutil
import sys

import pytest

import ember as em
from ember.errors import BackendUnavailableError, InvalidArgumentError


def functional():
    L = em.layers
    a, b = em.Input((6,), name="a"), em.Input((3,), name="b")
    shared = L.Dense(4, activation="relu", name="shared")
    h1, h2 = shared(L.Dense(3, name="proj")(a)), shared(b)
    inner = em.Sequential([em.Input((8,)), L.Dense(5, name="inner_dense"), L.Dense(4, name="inner_out")], name="inner")
    h = inner(L.Concatenate(name="cat")([h1, h2]))
    return em.Model([a, b], [L.Dense(1, name="o1")(h), L.Dense(2, activation="softmax", name="o2")(h)])


def expected_graph(model):
    """Nodes and edges from the model's config (Keras's inbound_nodes / keras_history)."""
    nodes, edges = set(), set()
    for layer in model.get_config()["layers"]:
        nodes.add(layer["name"])
        for call in layer["inbound_nodes"]:
            def walk(x):
                if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
                    edges.add((x["config"]["keras_history"][0], layer["name"]))
                elif isinstance(x, dict):
                    for v in x.values():
                        walk(v)
                elif isinstance(x, (list, tuple)):
                    for v in x:
                        walk(v)
            walk(call)
    return nodes, edges


def parsed(dot):
    """Nodes, edges and labels of a pydot graph, nested clusters included (read from the
    objects: pydot's own parser warns on current pyparsing)."""
    strip = lambda s: s.strip('"')  # noqa: E731
    nodes, edges, labels = set(), set(), {}

    def collect(g):
        for n in g.get_nodes():
            if n.get_name() in ("node", "graph", "edge"):
                continue
            nodes.add(strip(n.get_name()))
            labels[strip(n.get_name())] = strip(n.get_label() or "")
        edges.update((strip(e.get_source()), strip(e.get_destination())) for e in g.get_edges())
        for sub in g.get_subgraphs():
            collect(sub)

    collect(dot)
    return nodes, edges, labels


def test_dot_has_every_layer_and_edge_of_a_functional_model():
    pytest.importorskip("pydot")
    model = functional()
    nodes, edges = expected_graph(model)
    assert len(edges) >= 7 and ("shared", "cat") in edges and ("b", "shared") in edges
    got_nodes, got_edges, labels = parsed(em.utils.model_to_dot(model, show_shapes=True, show_dtype=True,
                                                                 show_layer_activations=True, show_trainable=True))
    assert got_nodes == nodes
    assert got_edges == edges
    assert "shared (Dense)" in labels["shared"] and "Activation: relu" in labels["shared"]
    assert "Output shape: (None, 4)" in labels["inner"] and "Trainable: True" in labels["o1"]
    assert "float32" in labels["a"]
    # expanded: the nested model's layers are drawn inside it, connected through
    got_nodes, got_edges, _ = parsed(em.utils.model_to_dot(model, expand_nested=True))
    assert {"inner_dense", "inner_out"} <= got_nodes and "inner" not in got_nodes
    assert {("cat", "inner_dense"), ("inner_dense", "inner_out"), ("inner_out", "o1"), ("inner_out", "o2")} <= got_edges
    # names off: class names only
    _, _, labels = parsed(em.utils.model_to_dot(model, show_layer_names=False))
    assert labels["shared"] == "Dense"


def test_sequential_and_subclassed_models():
    pytest.importorskip("pydot")
    seq = em.Sequential([em.Input((3,)), em.layers.Dense(2, name="d1"), em.layers.Dense(1, name="d2")])
    nodes, edges, _ = parsed(em.utils.model_to_dot(seq))
    assert {"d1", "d2"} <= nodes and ("d1", "d2") in edges

    class Net(em.Model):
        def __init__(self):
            super().__init__()
            self.d = em.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    net = Net()
    net(em.ones((1, 3)))
    nodes, edges, _ = parsed(em.utils.model_to_dot(net))
    assert nodes == {net.name} and not edges


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_plot_model_writes_a_png(tmp_path):
    pytest.importorskip("pydot")
    path = tmp_path / "model.png"
    assert em.utils.plot_model(functional(), to_file=str(path), show_shapes=True, rankdir="LR", dpi=60) is None
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_plot_model_dot_source_needs_no_graphviz(tmp_path, monkeypatch):
    pytest.importorskip("pydot")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(BackendUnavailableError, match="apt-get install graphviz"):
        em.utils.plot_model(functional(), to_file=str(tmp_path / "m.png"))
    em.utils.plot_model(functional(), to_file=str(tmp_path / "m.dot"))
    assert '"shared" -> "cat"' in (tmp_path / "m.dot").read_text()


def test_without_pydot_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)
    with pytest.raises(BackendUnavailableError, match="pip install pydot"):
        em.utils.model_to_dot(functional())


@pytest.mark.parametrize("kwargs", [{"rankdir": "UP"}, {"dpi": 0}, {"show_shapes": 1}, {"nope": 1}])
def test_bad_arguments(kwargs):
    with pytest.raises(InvalidArgumentError):
        em.utils.model_to_dot(functional(), **kwargs)
    with pytest.raises(em.errors.NotBuiltError):
        em.utils.model_to_dot(em.Sequential([em.layers.Dense(2)]))
