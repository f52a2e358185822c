// The backward of take_rows: out[r, j] = sum over k with idx[k] == r of g[k, j].
// One invocation per output element walks the index list (no float atomics in WGSL);
// cost is rows * row_len * n_idx, fine for the gradient of an indexed parameter.

struct RowParams { n_rows: u32, row_len: u32, n_idx: u32, p0: u32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: RowParams;

@compute @workgroup_size(WG)
fn scatter_add_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= p.n_rows * p.row_len) { return; }
    let r = i32(i / p.row_len);
    let j = i % p.row_len;
    var acc = 0.0;
    for (var k = 0u; k < p.n_idx; k = k + 1u) {
        if (idx[k] == r) { acc = acc + g[k * p.row_len + j]; }
    }
    out[i] = acc;
}

