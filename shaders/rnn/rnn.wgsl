// Fused recurrences over a whole sequence (SimpleRNN, LSTM, GRU with reset_after), one
// step at a time inside one command submission: per step `rnn_rec` (the recurrent
// product h_in @ R) and `rnn_cell` (the gate math, writing the saved gates and the next
// state), and backward `rnn_cell_backward` then `rnn_matvec` (d h_in = drec @ R^T).
// Layouts as in rust/src/kernels/rnn.rs: xw (B, T, kU), R (U, kU), gates (T, B, gU),
// hs / cs (T + 1, B, U). `consts` packs the recurrent bias (kU, zeros when none), the
// recurrent dropout mask (B U, ones when none) and the mask (B T, ones when none).
// `state` (backward) packs dh, dc and d h_in, B U each.
// cell: 0 simple_rnn, 1 lstm, 2 gru (reset_after); activations: 0 tanh, 1 sigmoid,
// 2 relu, 3 hard_sigmoid, 4 linear.

struct Params { cell: u32, b: u32, t: u32, u: u32, s: u32, tt: u32, act: u32, ract: u32, zo: u32, rs: u32, gb: u32, has_gy: u32 }

@group(0) @binding(0) var<storage, read> xw: array<f32>;
@group(0) @binding(0) var<storage, read> hs_in: array<f32>;
@group(0) @binding(0) var<storage, read> gates_in: array<f32>;
@group(0) @binding(0) var<storage, read> drec_in: array<f32>;
@group(0) @binding(1) var<storage, read> rec: array<f32>;
@group(0) @binding(1) var<storage, read> rk: array<f32>;
@group(0) @binding(1) var<storage, read> consts_o: array<f32>;
@group(0) @binding(1) var<storage, read> hs_b: array<f32>;
@group(0) @binding(2) var<storage, read> consts: array<f32>;
@group(0) @binding(2) var<storage, read> cs_b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> st_m: array<f32>;
@group(0) @binding(3) var<storage, read_write> gates: array<f32>;
@group(0) @binding(3) var<storage, read_write> rec_out: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<uniform> po: Params;
@group(0) @binding(3) var<uniform> pm: Params;
@group(0) @binding(4) var<storage, read_write> hs: array<f32>;
@group(0) @binding(4) var<uniform> pr: Params;
@group(0) @binding(4) var<storage, read> consts_b: array<f32>;
@group(0) @binding(5) var<storage, read_write> cs: array<f32>;
@group(0) @binding(5) var<storage, read_write> st: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(6) var<storage, read_write> drec: array<f32>;
@group(0) @binding(7) var<storage, read_write> gxw: array<f32>;
@group(0) @binding(8) var<uniform> pb: Params;

fn act_f(kind: u32, x: f32) -> f32 {
    switch kind {
        case 0u: { return tanh_f32(x); }
        case 1u: { return sigmoid_stable(x); }
        case 2u: { if (x > 0.0 || is_nan_f32(x)) { return x; } return 0.0; }
        case 3u: { return clamp(x + 3.0, 0.0, 6.0) / 6.0; }
        default: { return x; }
    }
}

// The derivative at the input whose output is y (relu'(0) = 0, hard_sigmoid's is 0 where
// it saturates).
fn act_d(kind: u32, y: f32) -> f32 {
    switch kind {
        case 0u: { return 1.0 - y * y; }
        case 1u: { return y * (1.0 - y); }
        case 2u: { return select(0.0, 1.0, y > 0.0); }
        case 3u: { return select(0.0, 1.0 / 6.0, y > 0.0 && y < 1.0); }
        default: { return 1.0; }
    }
}

fn gates_of(cell: u32) -> u32 { return select(select(3u, 4u, cell == 1u), 1u, cell == 0u); }
fn saved_of(cell: u32) -> u32 { return select(select(4u, 5u, cell == 1u), 1u, cell == 0u); }

// rec[b, n] = sum_i hs[s, b, i] rdm[b, i] R[i, n]: one invocation per output.
@compute @workgroup_size(WG)
fn rnn_rec(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let id = flat_id(w, nw, l);
    let ku = gates_of(pr.cell) * pr.u;
    if (id >= pr.b * ku) { return; }
    let bi = id / ku;
    let n = id % ku;
    let hb = pr.s * pr.b * pr.u + bi * pr.u;
    let db = ku + bi * pr.u;
    var acc = 0.0;
    for (var i = 0u; i < pr.u; i = i + 1u) {
        acc = acc + hs_in[hb + i] * consts[db + i] * rk[i * ku + n];
    }
    rec_out[id] = acc;
}

// One step's gates for one (batch row, unit): saved gates, next h (and c).
@compute @workgroup_size(WG)
fn rnn_cell(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let id = flat_id(w, nw, l);
    let u = p.u;
    let bu = p.b * u;
    if (id >= bu) { return; }
    let bi = id / u;
    let j = id % u;
    let ku = gates_of(p.cell) * u;
    let gu = saved_of(p.cell) * u;
    let keep = consts[ku + bu + bi * p.t + p.tt] != 0.0;
    let xb = (bi * p.t + p.tt) * ku + j;
    let rbase = bi * ku + j;
    let g0 = (p.s * p.b + bi) * gu + j;
    let hp = hs[p.s * bu + id];
    var hn = hp;
    if (p.cell == 0u) {
        let a = act_f(p.act, xw[xb] + rec[rbase] + consts[j]);
        gates[g0] = a;
        if (keep) { hn = a; }
    } else if (p.cell == 1u) {
        let i = act_f(p.ract, xw[xb] + rec[rbase] + consts[j]);
        let f = act_f(p.ract, xw[xb + u] + rec[rbase + u] + consts[j + u]);
        let c = act_f(p.act, xw[xb + 2u * u] + rec[rbase + 2u * u] + consts[j + 2u * u]);
        let o = act_f(p.ract, xw[xb + 3u * u] + rec[rbase + 3u * u] + consts[j + 3u * u]);
        let cp = cs[p.s * bu + id];
        let cn = f * cp + i * c;
        let ac = act_f(p.act, cn);
        gates[g0] = i;
        gates[g0 + u] = f;
        gates[g0 + 2u * u] = c;
        gates[g0 + 3u * u] = o;
        gates[g0 + 4u * u] = ac;
        var cnext = cp;
        if (keep) { hn = o * ac; cnext = cn; }
        cs[(p.s + 1u) * bu + id] = cnext;
    } else {
        let z = act_f(p.ract, xw[xb] + rec[rbase] + consts[j]);
        let r = act_f(p.ract, xw[xb + u] + rec[rbase + u] + consts[j + u]);
        let rh = rec[rbase + 2u * u] + consts[j + 2u * u];
        let hh = act_f(p.act, xw[xb + 2u * u] + r * rh);
        gates[g0] = z;
        gates[g0 + u] = r;
        gates[g0 + 2u * u] = hh;
        gates[g0 + 3u * u] = rh;
        if (keep) { hn = hh + z * (hp - hh); }
    }
    hs[(p.s + 1u) * bu + id] = hn;
}

// The outputs from the states: a masked step's output is the kept state, or zeros.
@compute @workgroup_size(WG)
fn rnn_outputs(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let id = flat_id(w, nw, l);
    let u = po.u;
    let bu = po.b * u;
    let n = select(bu, bu * po.t, po.rs == 1u);
    if (id >= n) { return; }
    var bi = id / u;
    var s = po.t - 1u;
    if (po.rs == 1u) {
        bi = id / (po.t * u);
        s = (id / u) % po.t;
    }
    let j = id % u;
    let tt = select(s, po.t - 1u - s, po.gb == 1u);
    let ku = gates_of(po.cell) * u;
    let keep = consts_o[ku + bu + bi * po.t + tt] != 0.0;
    var v = hs_in[(s + 1u) * bu + bi * u + j];
    if (po.zo == 1u && !keep) { v = 0.0; }
    y[id] = v;
}

// One step backward for one (batch row, unit): the carried dh (plus d h_in of the later
// step's product, through the dropout mask), the gate gradients into drec (T, B, kU) and
// gxw (B, T, kU), and the direct parts of dh and dc for the step before.
@compute @workgroup_size(WG)
fn rnn_cell_backward(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let id = flat_id(w, nw, l);
    let u = pb.u;
    let bu = pb.b * u;
    if (id >= bu) { return; }
    let bi = id / u;
    let j = id % u;
    let ku = gates_of(pb.cell) * u;
    let gu = saved_of(pb.cell) * u;
    let keep = consts_b[ku + bu + bi * pb.t + pb.tt] != 0.0;
    var dh = st[id] + st[2u * bu + id] * consts_b[ku + id];
    var go = 0.0;
    if (pb.has_gy == 1u) {
        if (pb.rs == 1u) {
            go = gy[(bi * pb.t + pb.s) * u + j];
        } else if (pb.s == pb.t - 1u) {
            go = gy[id];
        }
    }
    let g0 = (pb.s * pb.b + bi) * gu + j;
    let d0 = (pb.s * pb.b + bi) * ku + j;
    let x0 = (bi * pb.t + pb.tt) * ku + j;
    let k = gates_of(pb.cell);
    if (!keep) {
        for (var q = 0u; q < k; q = q + 1u) {
            drec[d0 + q * u] = 0.0;
            gxw[x0 + q * u] = 0.0;
        }
        if (pb.zo == 0u) { dh = dh + go; }
        st[id] = dh;
        return;
    }
    let dht = dh + go;
    if (pb.cell == 0u) {
        let dz = dht * act_d(pb.act, gates_in[g0]);
        drec[d0] = dz;
        gxw[x0] = dz;
        st[id] = 0.0;
    } else if (pb.cell == 1u) {
        let i = gates_in[g0];
        let f = gates_in[g0 + u];
        let c = gates_in[g0 + 2u * u];
        let o = gates_in[g0 + 3u * u];
        let ac = gates_in[g0 + 4u * u];
        let cp = cs_b[pb.s * bu + id];
        let dct = st[bu + id] + dht * o * act_d(pb.act, ac);
        let di = dct * c * act_d(pb.ract, i);
        let df = dct * cp * act_d(pb.ract, f);
        let dg = dct * i * act_d(pb.act, c);
        let dout = dht * ac * act_d(pb.ract, o);
        drec[d0] = di;
        drec[d0 + u] = df;
        drec[d0 + 2u * u] = dg;
        drec[d0 + 3u * u] = dout;
        gxw[x0] = di;
        gxw[x0 + u] = df;
        gxw[x0 + 2u * u] = dg;
        gxw[x0 + 3u * u] = dout;
        st[bu + id] = dct * f;
        st[id] = 0.0;
    } else {
        let z = gates_in[g0];
        let r = gates_in[g0 + u];
        let hh = gates_in[g0 + 2u * u];
        let rh = gates_in[g0 + 3u * u];
        let hp = hs_b[pb.s * bu + id];
        let dhh = dht * (1.0 - z) * act_d(pb.act, hh);
        let dz = dht * (hp - hh) * act_d(pb.ract, z);
        let dr = dhh * rh * act_d(pb.ract, r);
        drec[d0] = dz;
        drec[d0 + u] = dr;
        drec[d0 + 2u * u] = dhh * r;
        gxw[x0] = dz;
        gxw[x0 + u] = dr;
        gxw[x0 + 2u * u] = dhh;
        st[id] = dht * z;
    }
}

// d h_in[b, i] = sum_n drec[s, b, n] R[i, n], into the third block of the state.
@compute @workgroup_size(WG)
fn rnn_matvec(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let id = flat_id(w, nw, l);
    let u = pm.u;
    let bu = pm.b * u;
    if (id >= bu) { return; }
    let bi = id / u;
    let i = id % u;
    let ku = gates_of(pm.cell) * u;
    let d0 = (pm.s * pm.b + bi) * ku;
    var acc = 0.0;
    for (var n = 0u; n < ku; n = n + 1u) {
        acc = acc + drec_in[d0 + n] * rk[i * ku + n];
    }
    st_m[2u * bu + id] = acc;
}
