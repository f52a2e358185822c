// Scans and sorts along one axis, the tensor viewed as (outer, n, inner): cumsum and
// cumprod (one invocation per line, serial along it, as the CPU kernel) and a stable
// argsort by rank counting (one invocation per element; O(n^2) per line).

struct Params { outer: u32, n: u32, inner: u32, flag: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> order: array<i32>;
@group(0) @binding(2) var<uniform> p: Params;

// `flag` = 1 scans from the end (the backward of cumsum).
fn scan_line(line: u32, prod: bool) {
    let o = line / p.inner;
    let j = line % p.inner;
    let base = o * p.n * p.inner + j;
    var acc = select(0.0, 1.0, prod);
    for (var s = 0u; s < p.n; s = s + 1u) {
        var i = s;
        if (p.flag == 1u) { i = p.n - 1u - s; }
        let at = base + i * p.inner;
        if (prod) { acc = acc * x[at]; } else { acc = acc + x[at]; }
        out[at] = acc;
    }
}

@compute @workgroup_size(WG)
fn cumsum(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let line = flat_id(w, nw, l);
    if (line >= p.outer * p.inner) { return; }
    scan_line(line, false);
}

@compute @workgroup_size(WG)
fn cumprod(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let line = flat_id(w, nw, l);
    if (line >= p.outer * p.inner) { return; }
    scan_line(line, true);
}

// Whether element (k, a) comes before (i, b) in numpy's ascending order (NaN last) or,
// with `flag` = 1, the stable descending order (NaN first); ties keep the lower index first.
fn before(a: f32, k: u32, b: f32, i: u32) -> bool {
    let na = is_nan_f32(a);
    let nb = is_nan_f32(b);
    if (p.flag == 1u) {
        if (nb) { return na && k < i; }
        return na || a > b || (a == b && k < i);
    }
    if (nb) { return !na || k < i; }
    return !na && (a < b || (a == b && k < i));
}

@compute @workgroup_size(WG)
fn argsort(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let t = flat_id(w, nw, l);
    if (t >= p.outer * p.n * p.inner) { return; }
    let j = t % p.inner;
    let i = (t / p.inner) % p.n;
    let base = (t / (p.inner * p.n)) * p.n * p.inner + j;
    let v = x[t];
    var rank = 0u;
    for (var k = 0u; k < p.n; k = k + 1u) {
        if (before(x[base + k * p.inner], k, v, i)) { rank = rank + 1u; }
    }
    order[base + rank * p.inner] = i32(i);
}
