"""The fused recurrences on the gpu (`shaders/rnn/rnn.wgsl`): per step two dispatches
forward (the recurrent product, then the gate math writing the saved gates and the next
state) and two backward (the gate gradients, then d h_in = drec @ R^T), all recorded
into the step's one command submission, with no host round trip between steps. The
recurrent kernel's gradient is one matmul over all the steps at the end.

A GRU with ``reset_after=False`` (its reset gate sits between two products) runs the
composite of `Backend`."""

from __future__ import annotations

from ..base import Backend
from .elementwise import check_f32

_CELLS = {"simple_rnn": 0, "lstm": 1, "gru": 2}
_ACTS = {"tanh": 0, "sigmoid": 1, "relu": 2, "hard_sigmoid": 3, "linear": 4}


class RnnKernels:
    def _rnn_consts(self, k: int, b: int, t: int, u: int, recurrent_bias, rdm, mask):
        """[recurrent bias (k u) | dropout mask (b u) | mask (b t)], defaults filled in."""
        ku, n = k * u, b * u
        consts = self.full(ku + n + b * t, 1.0, "float32")
        if recurrent_bias is None:
            self.strided_write(consts, self.full(ku, 0.0, "float32"), (ku,), (1,), 0)
        else:
            self.strided_write(consts, recurrent_bias, (ku,), (1,), 0)
        if rdm is not None:
            self.strided_write(consts, rdm, (n,), (1,), ku)
        if mask is not None:
            self.strided_write(consts, mask, (b * t,), (1,), ku + n)
        return consts

    def _rnn_params(self, cell, b, t, u, s, go_backwards, act, ract, zo, rs, has_gy=0):
        tt = t - 1 - s if go_backwards else s
        return (_CELLS[cell], b, t, u, s, tt, _ACTS[act], _ACTS[ract], int(zo), int(rs), int(go_backwards), int(has_gy))

    def rnn_sequence(self, cell, xw, recurrent_kernel, recurrent_bias, h0, c0, mask, recurrent_dropout_mask, batch, time,
                     units, go_backwards, activation, recurrent_activation, reset_after, zero_output_for_mask,
                     return_sequences):
        k = self._rnn_check(cell, recurrent_bias, c0, reset_after, activation, recurrent_activation)
        if cell == "gru" and not reset_after:
            return Backend.rnn_sequence(self, cell, xw, recurrent_kernel, recurrent_bias, h0, c0, mask,
                                        recurrent_dropout_mask, batch, time, units, go_backwards, activation,
                                        recurrent_activation, reset_after, zero_output_for_mask, return_sequences)
        check_f32("rnn_sequence", xw, recurrent_kernel, h0)
        b, t, u = int(batch), int(time), int(units)
        self._rnn_sizes("rnn_sequence", k, b, t, u, xw, recurrent_kernel, h0, c0, mask, recurrent_dropout_mask)
        n, ku = b * u, k * u
        gu = {"simple_rnn": 1, "lstm": 5, "gru": 4}[cell] * u
        consts = self._rnn_consts(k, b, t, u, recurrent_bias, recurrent_dropout_mask, mask)
        hs = self.rt.alloc((t + 1) * n)
        self.strided_write(hs, h0, (n,), (1,), 0)
        cs = None
        if cell == "lstm":
            cs = self.rt.alloc((t + 1) * n)
            self.strided_write(cs, c0, (n,), (1,), 0)
        gates = self.rt.alloc(max(1, t * b * gu))
        rec = self.rt.alloc(max(1, b * ku))
        cs_arg = cs if cs is not None else self.rt.alloc(1)
        spec = (cell, b, t, u)
        for s in range(t):
            prm = self._rnn_params(*spec, s, go_backwards, activation, recurrent_activation, zero_output_for_mask,
                                   return_sequences)
            if n:
                self.rt.dispatch("rnn/rnn", "rnn_rec", [hs, recurrent_kernel, consts], [rec], prm, threads=b * ku)
                self.rt.dispatch("rnn/rnn", "rnn_cell", [xw, rec, consts], [gates, hs, cs_arg], prm, threads=n)
        if t == 0 and not return_sequences:
            y = self.copy(h0)
        else:
            n_out = b * t * u if return_sequences else n
            y = self.rt.alloc(max(1, n_out)) if n_out == 0 else self.rt.alloc(n_out)
            if n_out:
                prm = self._rnn_params(*spec, 0, go_backwards, activation, recurrent_activation, zero_output_for_mask,
                                       return_sequences)
                self.rt.dispatch("rnn/rnn", "rnn_outputs", [hs, consts], [y], prm, threads=n_out)
        h = self.strided_copy(hs, (n,), (1,), t * n)
        c = None if cs is None else self.strided_copy(cs, (n,), (1,), t * n)
        return y, h, c, gates, hs, cs

    def rnn_sequence_backward(self, cell, recurrent_kernel, need_bias, mask, recurrent_dropout_mask, gates, hs, cs, gy, gh,
                              gc, batch, time, units, go_backwards, activation, recurrent_activation, reset_after,
                              zero_output_for_mask, return_sequences):
        k = self._rnn_check(cell, None, cs, reset_after, activation, recurrent_activation)
        if cell == "gru" and not reset_after:
            return Backend.rnn_sequence_backward(self, cell, recurrent_kernel, need_bias, mask, recurrent_dropout_mask,
                                                 gates, hs, cs, gy, gh, gc, batch, time, units, go_backwards,
                                                 activation, recurrent_activation, reset_after, zero_output_for_mask,
                                                 return_sequences)
        b, t, u = int(batch), int(time), int(units)
        n, ku = b * u, k * u
        consts = self._rnn_consts(k, b, t, u, None, recurrent_dropout_mask, mask)
        state = self.full(3 * n, 0.0, "float32")
        if gh is not None:
            self.strided_write(state, gh, (n,), (1,), 0)
        if gc is not None:
            self.strided_write(state, gc, (n,), (1,), n)
        drec = self.full(max(1, t * b * ku), 0.0, "float32")
        gxw = self.full(b * t * ku, 0.0, "float32")
        gy_arg = gy if gy is not None else self.rt.alloc(1)
        cs_arg = cs if cs is not None else self.rt.alloc(1)
        spec = (cell, b, t, u)
        for s in range(t - 1, -1, -1):
            prm = self._rnn_params(*spec, s, go_backwards, activation, recurrent_activation, zero_output_for_mask,
                                   return_sequences, gy is not None)
            if n:
                self.rt.dispatch("rnn/rnn", "rnn_cell_backward", [gates, hs, cs_arg, gy_arg, consts], [state, drec, gxw],
                                 prm, threads=n)
                self.rt.dispatch("rnn/rnn", "rnn_matvec", [drec, recurrent_kernel], [state], prm, threads=n)
        # d h0 = the carried dh plus step 0's d h_in through the dropout mask.
        dh_in = self.strided_copy(state, (n,), (1,), 2 * n)
        if recurrent_dropout_mask is not None:
            dh_in = self.binary("mul", dh_in, (n,), recurrent_dropout_mask, (n,))[0]
        gh0 = self.binary("add", self.strided_copy(state, (n,), (1,), 0), (n,), dh_in, (n,))[0]
        gc0 = self.strided_copy(state, (n,), (1,), n) if cell == "lstm" else None
        hin = self.strided_copy(hs, (t * n,), (1,), 0)
        if recurrent_dropout_mask is not None and t:
            hin = self.binary("mul", hin, (t, b, u), recurrent_dropout_mask, (b, u))[0]
        if t:
            grk, _ = self.matmul(hin, (t * b, u), drec, (t * b, ku), True, False)
        else:
            grk = self.full(u * ku, 0.0, "float32")
        grb = None
        if need_bias:
            grb = self.sum_to_shape(drec, (t * b, ku), (ku,)) if t else self.full(ku, 0.0, "float32")
        return gxw, grk, grb, gh0, gc0

    def _rnn_sizes(self, op, k, b, t, u, xw, rk, h0, c0, mask, rdm):
        from ...errors import ShapeError

        for what, buf, need in (("xw", xw, b * t * k * u), ("recurrent_kernel", rk, u * k * u), ("h0", h0, b * u),
                                ("c0", c0, b * u), ("mask", mask, b * t), ("recurrent_dropout_mask", rdm, b * u)):
            if buf is not None and buf.n != need:
                raise ShapeError(f"{op}: {what} holds {buf.n} values, expected {need}")
