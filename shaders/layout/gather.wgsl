// Row gathers (take_rows); strided copies live in layout/index.wgsl.

struct RowParams { rows_out: u32, row_len: u32, n_src_rows: u32, n_idx: u32 }

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> dst2: array<u32>;
@group(0) @binding(3) var<uniform> rp: RowParams;

// dst2[k * row_len + j] = src[idx[k] * row_len + j] (indices already normalised and checked).
@compute @workgroup_size(WG)
fn take_rows(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let i = flat_id(w, nw, l);
    if (i >= rp.rows_out * rp.row_len) { return; }
    let k = i / rp.row_len;
    let j = i % rp.row_len;
    dst2[i] = src[u32(idx[k]) * rp.row_len + j];
}
