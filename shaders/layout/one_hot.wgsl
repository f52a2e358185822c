// out[r, c] = 1.0 if labels[r] == c else 0.0 (labels checked on the host).

struct Params { n: u32, depth: u32, p0: u32, p1: u32 }

@group(0) @binding(0) var<storage, read> labels: array<i32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn one_hot(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.n) { return; }
    out[i] = select(0.0, 1.0, labels[i / p.depth] == i32(i % p.depth));
}
