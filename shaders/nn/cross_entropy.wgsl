// Fused cross-entropies. One invocation per row of (rows, classes) logits:
// loss_r = logsumexp(z_r) - sum_c y_rc z_rc (y one-hot from int labels, or a
// distribution), probabilities kept for the backward g_r (p * sum(y_r) - y_r).
//
// Integer labels are range-checked here, not on the host (which would cost a readback
// in every training step): a row with a label outside [0, classes) gets a NaN loss
// (NaN gradients in the backward), and the check slot `p.slot` of `flags` records it
// (flags[2 slot] = 1, flags[2 slot + 1] = the label). The runtime reads the flags with
// the next readback and raises InvalidArgumentError there.

struct Params { rows: u32, classes: u32, sparse: u32, slot: u32 }

@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;   // int32 indices or float32 bits
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<storage, read_write> flags: array<atomic<u32>>;
@group(0) @binding(5) var<uniform> p: Params;

// Whether row r's integer label is out of range; records it in the check slot if so.
fn bad_label(r: u32) -> bool {
    if (p.sparse == 1u && labels[r] >= p.classes) {   // negative int32 labels are huge as u32
        atomicMax(&flags[2u * p.slot], 1u);
        atomicExchange(&flags[2u * p.slot + 1u], labels[r]);
        return true;
    }
    return false;
}

fn label(r: u32, c: u32) -> f32 {
    if (p.sparse == 1u) { return select(0.0, 1.0, labels[r] == c); }
    return bitcast<f32>(labels[r * p.classes + c]);
}

@compute @workgroup_size(WG)
fn softmax_cross_entropy(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let r = flat_id(w, nw, l);
    if (r >= p.rows) { return; }
    let base = r * p.classes;
    if (bad_label(r)) {
        loss[r] = bitcast<f32>(0x7fc00000u);
        for (var c = 0u; c < p.classes; c = c + 1u) { probs[base + c] = bitcast<f32>(0x7fc00000u); }
        return;
    }
    var m = bitcast<f32>(0xff800000u);
    for (var c = 0u; c < p.classes; c = c + 1u) { m = max(m, z[base + c]); }
    var s = 0.0;
    for (var c = 0u; c < p.classes; c = c + 1u) {
        let e = exp(z[base + c] - m);
        probs[base + c] = e;
        s = s + e;
    }
    let lse = m + log(s);
    let inv = 1.0 / s;
    var acc = 0.0;
    for (var c = 0u; c < p.classes; c = c + 1u) {
        probs[base + c] = probs[base + c] * inv;
        let y = label(r, c);
        if (y != 0.0) { acc = acc + y * (lse - z[base + c]); }
    }
    loss[r] = acc;
}

@group(0) @binding(0) var<storage, read> bprobs: array<f32>;
@group(0) @binding(2) var<storage, read> gloss: array<f32>;
@group(0) @binding(3) var<storage, read_write> glogits: array<f32>;

@compute @workgroup_size(WG)
fn softmax_cross_entropy_backward(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.rows * p.classes) { return; }
    let r = i / p.classes;
    if (bad_label(r)) {
        glogits[i] = bitcast<f32>(0x7fc00000u);
        return;
    }
    var ysum = 1.0;
    if (p.sparse == 0u) {
        ysum = 0.0;
        for (var c = 0u; c < p.classes; c = c + 1u) { ysum = ysum + label(r, c); }
    }
    glogits[i] = gloss[r] * (bprobs[i] * ysum - label(r, i % p.classes));
}
