"""Linear algebra (``keras.ops.linalg``): decompositions, solves, inverses, determinants.

Ember has no LU/QR/SVD/eigen kernels on the device yet, so these ops read their input back
to the host, compute in float64 with numpy's LAPACK routines, and put the float32 result
on the input's device (one readback and one upload per call: fine for the small
matrices these are used on, not a GPU-speed path). Batches of matrices (``(..., M, N)``)
work where numpy's routines batch.

Gradients flow where they are standard: ``inv``, ``det``, ``slogdet``'s log-determinant,
``logdet``, ``solve``, ``solve_triangular``, ``cholesky``, ``cholesky_inverse``,
``eigh`` (distinct eigenvalues), ``svd``'s singular values and ``pinv`` (full-rank
inputs). Differentiating the factors of ``qr``, ``svd``'s U and V, ``lstsq`` or ``lu_factor``
raises NotImplementedError; ``matrix_rank`` is an integer.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..tensor import Tensor, as_tensor
from . import core
from .core import _record

__all__ = ["cholesky", "cholesky_inverse", "det", "eigh", "inv", "logdet", "lstsq", "lu_factor", "matrix_rank",
           "norm", "pinv", "qr", "slogdet", "solve", "solve_triangular", "svd"]


# -- host plumbing --------------------------------------------------------------------------------

def _matrix(x, op: str, square: bool = False) -> Tensor:
    t = x if isinstance(x, Tensor) else as_tensor(x)
    t = core._float(t)
    if t.ndim < 2:
        raise ShapeError(f"{op}: expected an input of rank >= 2 (..., M, N), got shape {t.shape}")
    if square and t.shape[-1] != t.shape[-2]:
        raise ShapeError(f"{op}: expected square matrices (..., M, M), got shape {t.shape}")
    return t


def _host(t: Tensor) -> np.ndarray:
    return np.asarray(t.numpy(), np.float64)


def _finite(a: np.ndarray, op: str) -> None:
    if not np.all(np.isfinite(a)):
        raise InvalidArgumentError(f"{op}: the input holds NaN or infinite values")


def _put(a: np.ndarray, like: Tensor) -> Tensor:
    return Tensor(np.ascontiguousarray(a, dtype=np.float32), device=like.device)


def _lapack(fn, op: str, *args):
    try:
        with np.errstate(all="ignore"):
            return fn(*args)
    except np.linalg.LinAlgError as e:
        raise InvalidArgumentError(f"{op}: {e}") from None


def _mT(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _no_grad(op: str, what: str):
    def backward(g):
        raise NotImplementedError(f"{op}: the gradient of {what} is not implemented")

    return backward


# -- inverses, determinants ------------------------------------------------------------------------

def inv(x) -> Tensor:
    """The inverse of square matrices ``(..., M, M)`` (``keras.ops.linalg.inv``);
    gradient ``-A^-T G A^-T``.

    Example:
        >>> import ember as em
        >>> em.ops.linalg.inv(em.tensor([[2.0, 0.0], [0.0, 4.0]])).numpy().tolist()
        [[0.5, 0.0], [0.0, 0.25]]
    """
    op = "inv"
    t = _matrix(x, op, square=True)
    a = _host(t)
    _finite(a, op)
    y = _lapack(np.linalg.inv, op, a)
    yt = _mT(y)

    def backward(g):
        return (_put(-yt @ _host(g) @ yt, t),)

    return _record(_put(y, t), (t,), backward)


def det(x) -> Tensor:
    """The determinant of square matrices (``keras.ops.linalg.det``); gradient
    ``G det(A) A^-T``.

    Example:
        >>> import ember as em
        >>> float(em.ops.linalg.det(em.tensor([[2.0, 1.0], [1.0, 3.0]])))
        5.0
    """
    op = "det"
    t = _matrix(x, op, square=True)
    a = _host(t)
    _finite(a, op)
    d = _lapack(np.linalg.det, op, a)

    def backward(g):
        gg = _host(g).reshape(np.shape(d))
        cof = _lapack(np.linalg.inv, "det (gradient)", a) if np.all(d != 0) else _adjugate(a)
        scale = (gg * d)[..., None, None] if np.all(d != 0) else gg[..., None, None]
        return (_put(scale * _mT(cof), t),)

    return _record(_put(np.asarray(d), t), (t,), backward)


def _adjugate(a: np.ndarray) -> np.ndarray:
    """The adjugate (det(A) A^-1 extended to singular A) through the SVD."""
    u, s, vh = np.linalg.svd(a)
    n = a.shape[-1]
    prods = np.stack([np.prod(np.delete(s, i, axis=-1), axis=-1) for i in range(n)], axis=-1)
    sign = np.linalg.det(u) * np.linalg.det(vh)
    return sign[..., None, None] * (_mT(vh) * prods[..., None, :]) @ _mT(u)


def slogdet(x) -> tuple[Tensor, Tensor]:
    """``(sign, log|det|)`` of square matrices (``keras.ops.linalg.slogdet``, numpy's
    order); the log-determinant's gradient is ``G A^-T``.

    Example:
        >>> import ember as em
        >>> sign, logabs = em.ops.linalg.slogdet(em.tensor([[0.0, 2.0], [3.0, 0.0]]))
        >>> float(sign), round(float(logabs), 5)
        (-1.0, 1.79176)
    """
    op = "slogdet"
    t = _matrix(x, op, square=True)
    a = _host(t)
    _finite(a, op)
    sign, logabs = _lapack(np.linalg.slogdet, op, a)

    def backward(g):
        gg = _host(g).reshape(np.shape(logabs))
        return (_put(gg[..., None, None] * _mT(_lapack(np.linalg.inv, "slogdet (gradient)", a)), t),)

    return _put(np.asarray(sign), t), _record(_put(np.asarray(logabs), t), (t,), backward)


def logdet(x) -> Tensor:
    """``log(det(x))`` of symmetric positive-definite matrices (``keras.ops.logdet``),
    through the log-determinant of `slogdet`; gradient ``G A^-T``.

    Example:
        >>> import ember as em
        >>> round(float(em.ops.logdet(em.tensor([[2.0, 0.0], [0.0, 3.0]]))), 5)
        1.79176
    """
    return slogdet(x)[1]


# -- solves ---------------------------------------------------------------------------------------

def _rhs(b, t: Tensor, op: str) -> tuple[Tensor, bool]:
    bt = core._float(b if isinstance(b, Tensor) else as_tensor(b, device=t.device))
    vector = bt.ndim == t.ndim - 1
    rows = bt.shape[-1] if vector else (bt.shape[-2] if bt.ndim >= 2 else None)
    if bt.ndim == 0 or rows != t.shape[-1]:
        raise ShapeError(f"{op}: b of shape {bt.shape} does not match a of shape {t.shape} (b must be (..., M) or "
                         f"(..., M, K) with M = {t.shape[-1]})")
    return bt, vector


def solve(a, b) -> Tensor:
    """``x`` with ``a @ x = b`` (``keras.ops.linalg.solve``): ``a`` (..., M, M), ``b`` (..., M)
    or (..., M, K); gradients ``b: A^-T G``, ``a: -(A^-T G) x^T``.

    Example:
        >>> import ember as em
        >>> em.ops.linalg.solve(em.tensor([[2.0, 0.0], [0.0, 4.0]]), em.tensor([2.0, 2.0])).numpy().tolist()
        [1.0, 0.5]
    """
    op = "solve"
    t = _matrix(a, op, square=True)
    bt, vector = _rhs(b, t, op)
    am, bm = _host(t), _host(bt)
    _finite(am, op)
    _finite(bm, op)
    bb = bm[..., None] if vector else bm
    x = _lapack(np.linalg.solve, op, am, bb)

    def backward(g):
        gg = _host(g)
        gg = gg[..., None] if vector else gg
        gb = _lapack(np.linalg.solve, "solve (gradient)", _mT(am), gg)
        ga = -gb @ _mT(x)
        gb = gb[..., 0] if vector else gb
        return _put(_sum_to(ga, am.shape), t), _put(_sum_to(gb, bm.shape), bt)

    out = x[..., 0] if vector else x
    return _record(_put(out, t), (t, bt), backward)


def _sum_to(g: np.ndarray, shape: tuple) -> np.ndarray:
    """``g`` summed over the leading axes it broadcast over (batched solves)."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, (gd, sd) in enumerate(zip(g.shape, shape)):
        if sd == 1 and gd != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def solve_triangular(a, b, lower=False) -> Tensor:
    """``x`` with ``a @ x = b`` for triangular ``a`` (``keras.ops.linalg.solve_triangular``;
    only the triangle ``lower`` names is read); gradients as `solve`'s, the matrix's
    restricted to that triangle.

    Example:
        >>> import ember as em
        >>> em.ops.linalg.solve_triangular(em.tensor([[2.0, 9.0], [1.0, 4.0]]), em.tensor([2.0, 4.0]),
        ...                                lower=True).numpy().tolist()
        [1.0, 0.75]
    """
    op = "solve_triangular"
    if not isinstance(lower, (bool, np.bool_)):
        raise InvalidArgumentError(f"{op}: lower must be True or False, got {lower!r}")
    t = _matrix(a, op, square=True)
    bt, vector = _rhs(b, t, op)
    tri = np.tril if lower else np.triu
    am, bm = tri(_host(t)), _host(bt)
    _finite(am, op)
    _finite(bm, op)
    bb = bm[..., None] if vector else bm
    x = _lapack(np.linalg.solve, op, am, bb)

    def backward(g):
        gg = _host(g)
        gg = gg[..., None] if vector else gg
        gb = _lapack(np.linalg.solve, "solve_triangular (gradient)", _mT(am), gg)
        ga = tri(-gb @ _mT(x))
        gb = gb[..., 0] if vector else gb
        return _put(_sum_to(ga, am.shape), t), _put(_sum_to(gb, bm.shape), bt)

    out = x[..., 0] if vector else x
    return _record(_put(out, t), (t, bt), backward)


def lstsq(a, b, rcond=None) -> Tensor:
    """The least-squares solution ``x`` minimizing ``||a x - b||`` (``keras.ops.linalg.lstsq``,
    numpy's ``lstsq(a, b, rcond)[0]``): ``a`` (M, N), ``b`` (M,) or (M, K). Not
    differentiable (NotImplementedError on backward).

    Example:
        >>> import ember as em
        >>> em.ops.linalg.lstsq(em.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), em.tensor([1.0, 2.0, 5.0])).numpy().tolist()
        [1.0, 2.0]
    """
    op = "lstsq"
    t = _matrix(a, op)
    if t.ndim != 2:
        raise ShapeError(f"{op}: a must be a matrix (M, N), got shape {t.shape}")
    bt = core._float(b if isinstance(b, Tensor) else as_tensor(b, device=t.device))
    if bt.ndim not in (1, 2) or bt.shape[0] != t.shape[0]:
        raise ShapeError(f"{op}: b of shape {bt.shape} does not match a of shape {t.shape} (b must be (M,) or (M, K))")
    if rcond is not None and (isinstance(rcond, bool) or not isinstance(rcond, numbers.Real)):
        raise InvalidArgumentError(f"{op}: rcond must be None or a number, got {rcond!r}")
    am, bm = _host(t), _host(bt)
    _finite(am, op)
    _finite(bm, op)
    x = _lapack(lambda p, q: np.linalg.lstsq(p, q, rcond=rcond)[0], op, am, bm)
    return _record(_put(x, t), (t, bt), _no_grad(op, "lstsq"))


# -- decompositions ---------------------------------------------------------------------------------

def _phi(x: np.ndarray) -> np.ndarray:
    """The lower triangle with the diagonal halved (the Cholesky gradient's Phi)."""
    out = np.tril(x)
    idx = np.arange(x.shape[-1])
    out[..., idx, idx] *= 0.5
    return out


def cholesky(x, upper=False) -> Tensor:
    """The Cholesky factor of symmetric positive-definite matrices
    (``keras.ops.linalg.cholesky``): lower ``L`` with ``A = L L^T``, or with ``upper`` the
    upper ``U = L^T`` (``A = U^T U``), of the symmetric part ``(A + A^T) / 2`` (as JAX
    symmetrizes the input, so the gradient is symmetric). A matrix that is not positive definite is an
    `InvalidArgumentError`. Gradient: Murray's formula ``sym(L^-T Phi(L^T Lbar) L^-1)``.

    Example:
        >>> import ember as em
        >>> em.ops.linalg.cholesky(em.tensor([[4.0, 2.0], [2.0, 2.0]])).numpy().tolist()
        [[2.0, 0.0], [1.0, 1.0]]
    """
    op = "cholesky"
    if not isinstance(upper, (bool, np.bool_)):
        raise InvalidArgumentError(f"{op}: upper must be True or False, got {upper!r}")
    t = _matrix(x, op, square=True)
    a = _host(t)
    _finite(a, op)
    a = 0.5 * (a + _mT(a))  # the symmetric part, as JAX's cholesky reads it
    try:
        low = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        raise InvalidArgumentError(f"{op}: Cholesky decomposition failed; the input might not be a valid positive "
                                   "definite matrix") from None

    def backward(g):
        gl = _host(g)
        gl = _mT(gl) if upper else gl
        inv_l = np.linalg.inv(low)
        s = _mT(inv_l) @ _phi(_mT(low) @ gl) @ inv_l
        return (_put(0.5 * (s + _mT(s)), t),)

    return _record(_put(_mT(low) if upper else low, t), (t,), backward)


def cholesky_inverse(x, upper=False) -> Tensor:
    """The inverse of ``A = L L^T`` (or ``U^T U`` with ``upper``) from its Cholesky factor
    ``x`` (``keras.ops.linalg.cholesky_inverse``; only the factor's triangle is read).
    Gradient with respect to the factor: ``-(Y Ybar Y + (Y Ybar Y)^T) L`` for lower.

    Example:
        >>> import ember as em
        >>> em.ops.linalg.cholesky_inverse(em.tensor([[2.0, 0.0], [1.0, 1.0]])).numpy().tolist()
        [[0.5, -0.5], [-0.5, 1.0]]
    """
    op = "cholesky_inverse"
    if not isinstance(upper, (bool, np.bool_)):
        raise InvalidArgumentError(f"{op}: upper must be True or False, got {upper!r}")
    t = _matrix(x, op, square=True)
    f = (np.triu if upper else np.tril)(_host(t))
    _finite(f, op)
    a = _mT(f) @ f if upper else f @ _mT(f)
    y = _lapack(np.linalg.inv, op, a)

    def backward(g):
        ga = -_mT(y) @ _host(g) @ _mT(y)
        ga = ga + _mT(ga)
        gf = f @ ga if upper else ga @ f
        return (_put((np.triu if upper else np.tril)(gf), t),)

    return _record(_put(y, t), (t,), backward)


def eigh(x) -> tuple[Tensor, Tensor]:
    """Eigenvalues (ascending) and eigenvectors (the columns) of symmetric matrices
    (``keras.ops.linalg.eigh``), of the symmetric part ``(A + A^T) / 2`` as JAX. Gradients for
    distinct eigenvalues: ``V diag(wbar) V^T`` and ``V (F o (V^T Vbar)) V^T`` with
    ``F_ij = 1 / (w_j - w_i)``, symmetrized.

    Example:
        >>> import ember as em
        >>> w, v = em.ops.linalg.eigh(em.tensor([[2.0, 0.0], [0.0, 1.0]]))
        >>> w.numpy().tolist()
        [1.0, 2.0]
    """
    op = "eigh"
    t = _matrix(x, op, square=True)
    a = _host(t)
    _finite(a, op)
    w, v = _lapack(np.linalg.eigh, op, 0.5 * (a + _mT(a)))
    vt = _mT(v)

    def back_w(g):
        ga = (v * _host(g)[..., None, :]) @ vt
        return (_put(_sym(ga), t),)

    def back_v(g):
        diff = w[..., None, :] - w[..., :, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(np.eye(w.shape[-1], dtype=bool), 0.0, 1.0 / diff)
        ga = v @ (f * (vt @ _host(g))) @ vt
        return (_put(_sym(ga), t),)

    return _record(_put(w, t), (t,), back_w), _record(_put(v, t), (t,), back_v)


def _sym(ga: np.ndarray) -> np.ndarray:
    """The gradient with respect to A of a function of its symmetric part."""
    return 0.5 * (ga + _mT(ga))


def svd(x, full_matrices=True, compute_uv=True):
    """The singular value decomposition ``x = u diag(s) vh`` (``keras.ops.linalg.svd``,
    numpy's ``(u, s, vh)``; only ``s`` with ``compute_uv=False``). The singular values'
    gradient is ``U diag(sbar) V^T``; differentiating ``u`` or ``vh`` raises
    NotImplementedError.

    Example:
        >>> import ember as em
        >>> em.ops.linalg.svd(em.tensor([[3.0, 0.0], [0.0, 4.0]]), compute_uv=False).numpy().tolist()
        [4.0, 3.0]
    """
    op = "svd"
    for name, flag in (("full_matrices", full_matrices), ("compute_uv", compute_uv)):
        if not isinstance(flag, (bool, np.bool_)):
            raise InvalidArgumentError(f"{op}: {name} must be True or False, got {flag!r}")
    t = _matrix(x, op)
    a = _host(t)
    _finite(a, op)
    u, s, vh = _lapack(lambda m: np.linalg.svd(m, full_matrices=False), op, a)

    def back_s(g):
        return (_put((u * _host(g)[..., None, :]) @ vh, t),)

    s_t = _record(_put(s, t), (t,), back_s)
    if not compute_uv:
        return s_t
    if full_matrices:
        u, _, vh = _lapack(lambda m: np.linalg.svd(m, full_matrices=True), op, a)
    return (_record(_put(u, t), (t,), _no_grad(op, "the singular vectors u")), s_t,
            _record(_put(vh, t), (t,), _no_grad(op, "the singular vectors vh")))


def qr(x, mode="reduced") -> tuple[Tensor, Tensor]:
    """The QR decomposition ``x = q r`` (``keras.ops.linalg.qr``): ``mode`` "reduced"
    (q (..., M, K), r (..., K, N), K = min(M, N)) or "complete" (q (..., M, M)). Not
    differentiable (NotImplementedError on backward).

    Example:
        >>> import ember as em
        >>> q, r = em.ops.linalg.qr(em.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
        >>> q.shape, r.shape
        ((3, 2), (2, 2))
    """
    op = "qr"
    if mode not in ("reduced", "complete"):
        raise InvalidArgumentError(f"{op}: mode must be 'reduced' or 'complete', got {mode!r}")
    t = _matrix(x, op)
    a = _host(t)
    _finite(a, op)
    q, r = _lapack(lambda m: np.linalg.qr(m, mode=mode), op, a)
    return (_record(_put(q, t), (t,), _no_grad(op, "q")), _record(_put(r, t), (t,), _no_grad(op, "r")))


def lu_factor(x) -> tuple[Tensor, Tensor]:
    """The LU factorization with partial pivoting (``keras.ops.linalg.lu_factor``,
    ``scipy.linalg.lu_factor``'s layout): ``lu`` holds ``U`` on and above the diagonal and
    the unit-diagonal ``L`` below it, and ``pivots`` (int32) the row swapped with row i at
    step i. Batched over leading axes. Not differentiable.

    Example:
        >>> import ember as em
        >>> lu, piv = em.ops.linalg.lu_factor(em.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> [round(float(v), 4) for v in lu.numpy().ravel()], piv.numpy().tolist()
        ([3.0, 4.0, 0.3333, 0.6667], [1, 1])
    """
    op = "lu_factor"
    t = _matrix(x, op, square=True)
    a = _host(t)
    _finite(a, op)
    lead = a.shape[:-2]
    n = a.shape[-1]
    flat = a.reshape((-1, n, n)).copy()
    pivots = np.zeros((flat.shape[0], n), np.int32)
    for m, piv in zip(flat, pivots):
        for k in range(n):
            p = k + int(np.argmax(np.abs(m[k:, k])))
            piv[k] = p
            if p != k:
                m[[k, p]] = m[[p, k]]
            if m[k, k] != 0:
                m[k + 1:, k] /= m[k, k]
                m[k + 1:, k + 1:] -= np.outer(m[k + 1:, k], m[k, k + 1:])
    lu = flat.reshape(a.shape)
    piv_t = Tensor(pivots.reshape(lead + (n,)), dtype="int32", device=t.device)
    return _record(_put(lu, t), (t,), _no_grad(op, "lu_factor")), piv_t


def pinv(x, rcond=None) -> Tensor:
    """The Moore-Penrose pseudo-inverse (``keras.ops.linalg.pinv``): singular values
    below ``rcond * max(s)`` count as zero (default ``10 * max(M, N) * eps`` of float32,
    JAX's). Gradient for full-rank inputs (Golub & Pereyra's formula).

    Example:
        >>> import ember as em
        >>> em.ops.linalg.pinv(em.tensor([[2.0, 0.0], [0.0, 0.0]])).numpy().tolist()
        [[0.5, 0.0], [0.0, 0.0]]
    """
    op = "pinv"
    if rcond is not None and (isinstance(rcond, bool) or not isinstance(rcond, numbers.Real) or rcond < 0):
        raise InvalidArgumentError(f"{op}: rcond must be None or a number >= 0, got {rcond!r}")
    t = _matrix(x, op)
    a = _host(t)
    _finite(a, op)
    m, n = a.shape[-2:]
    tol = 10 * max(m, n) * np.finfo(np.float32).eps if rcond is None else float(rcond)
    u, s, vh = _lapack(lambda q: np.linalg.svd(q, full_matrices=False), op, a)
    cutoff = tol * np.max(s, axis=-1, keepdims=True) if s.size else s
    s_inv = np.where(s > cutoff, 1.0 / np.where(s > cutoff, s, 1.0), 0.0)
    p = (_mT(vh) * s_inv[..., None, :]) @ _mT(u)

    def backward(g):
        gg = _host(g)
        pt = _mT(p)
        eye_m, eye_n = np.eye(m), np.eye(n)
        ga = (-pt @ gg @ pt + (eye_m - a @ p) @ _mT(gg) @ p @ pt + pt @ p @ _mT(gg) @ (eye_n - p @ a))
        return (_put(ga, t),)

    return _record(_put(p, t), (t,), backward)


def matrix_rank(x, tol=None) -> Tensor:
    """The rank of matrices (``keras.ops.linalg.matrix_rank``): the number of singular
    values above ``tol`` (default numpy's ``max(s) * max(M, N) * eps``), int32.

    Example:
        >>> import ember as em
        >>> int(em.ops.linalg.matrix_rank(em.tensor([[1.0, 2.0], [2.0, 4.0]])))
        1
    """
    op = "matrix_rank"
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, numbers.Real) or tol < 0):
        raise InvalidArgumentError(f"{op}: tol must be None or a number >= 0, got {tol!r}")
    t = _matrix(x, op)
    a = np.asarray(t.numpy())
    _finite(a, op)
    r = _lapack(lambda q: np.linalg.matrix_rank(q, tol=tol), op, a)
    return Tensor(np.asarray(r, np.int32), dtype="int32", device=t.device)


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras's argument name
    """Vector and matrix norms (``keras.ops.linalg.norm``: `ember.ops.norm`)."""
    from .array_ops import norm as _norm

    return _norm(x, ord=ord, axis=axis, keepdims=keepdims)
