// Data movement: strided copies (transpose, broadcast_to), row gathers and their
// scatter-add backward, one-hot.

struct StridedParams {
    n: u32, ndim: u32, p0: u32, p1: u32,
    shape: array<vec4<u32>, 2>,
    src_strides: array<vec4<u32>, 2>,
}

struct RowParams { rows_out: u32, row_len: u32, n_src_rows: u32, n_idx: u32 }

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(1) var<storage, read_write> dst1: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst2: array<u32>;
@group(0) @binding(2) var<uniform> sp: StridedParams;
@group(0) @binding(3) var<uniform> rp: RowParams;

// dst1[i] = src[offset(i)] where offset walks the output shape with the source strides
// (0 on broadcast axes): transpose and broadcast_to. Works for any 32-bit dtype.
@compute @workgroup_size(WG)
fn strided_copy(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= sp.n) { return; }
    var rem = i;
    var o = 0u;
    for (var d = i32(sp.ndim) - 1; d >= 0; d = d - 1) {
        let s = sp.shape[d / 4][d % 4];
        o = o + (rem % s) * sp.src_strides[d / 4][d % 4];
        rem = rem / s;
    }
    dst1[i] = src[o];
}

// dst2[k * row_len + j] = src[idx[k] * row_len + j] (indices already normalised and checked).
@compute @workgroup_size(WG)
fn take_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= rp.rows_out * rp.row_len) { return; }
    let k = i / rp.row_len;
    let j = i % rp.row_len;
    dst2[i] = src[u32(idx[k]) * rp.row_len + j];
}
