// out[r, c] = 1.0 if labels[r] == c else 0.0. A label outside [0, depth) gives a row of
// NaN and is recorded in check slot `p.slot` of `flags` (see nn/cross_entropy.wgsl).

struct Params { n: u32, depth: u32, slot: u32, p1: u32 }

@group(0) @binding(0) var<storage, read> labels: array<i32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> flags: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn one_hot(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.n) { return; }
    let label = labels[i / p.depth];
    if (label < 0 || label >= i32(p.depth)) {
        atomicMax(&flags[2u * p.slot], 1u);
        atomicExchange(&flags[2u * p.slot + 1u], bitcast<u32>(label));
        out[i] = bitcast<f32>(0x7fc00000u);
        return;
    }
    out[i] = select(0.0, 1.0, label == i32(i % p.depth));
}
