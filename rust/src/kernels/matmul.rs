//! Temporary matmul over the gemm crate (replaced by the tuned kernel).
#[derive(Clone, Copy, Debug)]
pub struct MatmulSpec {
    pub batch: usize,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    pub a_batch_stride: usize,
    pub b_batch_stride: usize,
}

pub fn matmul(a: &[f32], b: &[f32], c: &mut [f32], spec: &MatmulSpec) {
    let MatmulSpec { batch, m, k, n, trans_a, trans_b, a_batch_stride, b_batch_stride } = *spec;
    if m * n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    let (lhs_rs, lhs_cs) = if trans_a { (1isize, m as isize) } else { (k as isize, 1) };
    let (rhs_rs, rhs_cs) = if trans_b { (1isize, k as isize) } else { (n as isize, 1) };
    let par = if m * n * k >= 64 * 64 * 64 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    for bi in 0..batch {
        let a0 = &a[bi * a_batch_stride..];
        let b0 = &b[bi * b_batch_stride..];
        let c0 = &mut c[bi * m * n..(bi + 1) * m * n];
        // SAFETY: strides describe in-bounds row-major matrices checked by the caller.
        unsafe {
            gemm::gemm(
                m, n, k, c0.as_mut_ptr(), 1, n as isize, false, a0.as_ptr(), lhs_cs, lhs_rs, b0.as_ptr(),
                rhs_cs, rhs_rs, 0.0f32, 1.0f32, false, false, false, par,
            );
        }
    }
}
