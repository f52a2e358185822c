//! Which instruction sets the CPU kernels use, detected at run time, and a hook that
//! forces the GEMM onto a narrower kernel family.
//!
//! One x86-64 wheel runs on every x86-64 CPU: nothing is compiled for a CPU level above
//! the target's baseline; wide kernels are chosen at run time (`is_x86_feature_detected!`).
//! The GEMM has three families on x86-64, the ones a CPU of each generation gets:
//!
//! * `avx512`: Ember's own AVX-512 kernel for large products, the `gemm` crate's AVX-512
//!   kernels for thin ones (see `matmul.rs`);
//! * `avx2`: the `gemm` crate's AVX2+FMA kernels, what a CPU without AVX-512 runs;
//! * `scalar`: the `gemm` crate's portable kernels, what a CPU without AVX2 runs.
//!
//! (`neon` on aarch64.) [`force_gemm_kernel`] pins one of them on a CPU that has it, so that
//! tests compare the paths of older CPUs with the AVX-512 one on a single machine.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Error, Result};

/// A GEMM kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmKernel {
    /// AVX-512F (x86-64).
    Avx512,
    /// AVX2 and FMA (x86-64).
    Avx2,
    /// NEON (aarch64).
    Neon,
    /// Portable scalar code.
    Scalar,
}

impl GemmKernel {
    /// Every family, widest first.
    pub const ALL: [GemmKernel; 4] = [Self::Avx512, Self::Avx2, Self::Neon, Self::Scalar];

    /// The family's name: `avx512`, `avx2`, `neon` or `scalar`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "avx512",
            Self::Avx2 => "avx2",
            Self::Neon => "neon",
            Self::Scalar => "scalar",
        }
    }

    /// The family called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether this CPU can run the family.
    pub fn supported(self) -> bool {
        match self {
            Self::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "aarch64")]
            Self::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Avx512 => 1,
            Self::Avx2 => 2,
            Self::Neon => 3,
            Self::Scalar => 4,
        }
    }
}

/// 0: automatic; otherwise `GemmKernel::code` of the forced family.
static FORCED: AtomicU8 = AtomicU8::new(0);

/// The widest family this CPU supports (what the GEMM uses unless forced).
pub fn detected_gemm_kernel() -> GemmKernel {
    GemmKernel::ALL
        .into_iter()
        .find(|k| k.supported())
        .unwrap_or(GemmKernel::Scalar)
}

/// The forced family, if any.
pub fn forced_gemm_kernel() -> Option<GemmKernel> {
    let code = FORCED.load(Ordering::Relaxed);
    GemmKernel::ALL.into_iter().find(|k| k.code() == code)
}

/// The family the GEMM runs now.
pub fn gemm_kernel() -> GemmKernel {
    forced_gemm_kernel().unwrap_or_else(detected_gemm_kernel)
}

/// Forces the GEMM onto `name` (`avx512`, `avx2`, `neon`, `scalar`), or back to automatic
/// selection with `None` or `"auto"`. A family this CPU cannot run is an error.
pub fn force_gemm_kernel(name: Option<&str>) -> Result<()> {
    let code = match name {
        None | Some("auto") => 0,
        Some(n) => {
            let Some(k) = GemmKernel::parse(n) else {
                return Err(Error::value(
                    "gemm kernel",
                    format!("unknown kernel {n:?}; valid kernels: auto, avx512, avx2, neon, scalar"),
                ));
            };
            if !k.supported() {
                return Err(Error::value(
                    "gemm kernel",
                    format!(
                        "this CPU cannot run the {n} kernels (widest supported: {})",
                        detected_gemm_kernel().name()
                    ),
                ));
            }
            k.code()
        }
    };
    FORCED.store(code, Ordering::Relaxed);
    Ok(())
}

/// The instruction-set extensions detected at run time that the kernels can use.
pub fn cpu_features() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {
                $(if std::arch::is_x86_feature_detected!($f) { out.push($f); })*
            };
        }
        probe!("sse2", "sse4.1", "sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq");
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! probe {
            ($($f:tt),*) => {
                $(if std::arch::is_aarch64_feature_detected!($f) { out.push($f); })*
            };
        }
        probe!("neon", "fp16", "sve");
    }
    out
}

/// The `gemm` crate's entry point signature (row/column strides per operand).
pub type GemmFn = unsafe fn(
    usize,
    usize,
    usize,
    *mut f32,
    isize,
    isize,
    bool,
    *const f32,
    isize,
    isize,
    *const f32,
    isize,
    isize,
    f32,
    f32,
    bool,
    bool,
    bool,
    gemm::Parallelism,
);

/// The `gemm`-crate entry point for the current family: the crate's own run-time dispatch
/// unless a narrower family is forced.
pub fn gemm_fn() -> GemmFn {
    kernel_fn(forced_gemm_kernel())
}

/// The `gemm`-crate entry point that runs `kernel`'s microkernels (`None`, `avx512` and
/// `neon`: the crate's own run-time choice). The caller checks `kernel.supported()`.
pub fn kernel_fn(kernel: Option<GemmKernel>) -> GemmFn {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Some(GemmKernel::Avx2) => forced::fma,
        Some(GemmKernel::Scalar) => forced::scalar,
        _ => gemm::gemm::<f32>,
    }
}

/// The crate's per-family kernels, called as `gemm::gemm` would after its own dispatch.
mod forced {
    use gemm_common::gemm::gemm_basic_generic;
    use gemm_common::simd::MixedSimd;

    macro_rules! family {
        ($fn_name:ident, $simd:ty, $ukr:path, $n:expr) => {
            /// Same contract as `gemm::gemm::<f32>` for a row-major destination
            /// (`dst_cs.abs() < dst_rs.abs()`), with non-negative strides.
            ///
            /// # Safety
            /// As `gemm::gemm`: the pointers and strides describe valid matrices.
            #[allow(clippy::too_many_arguments)]
            pub(super) unsafe fn $fn_name(
                m: usize,
                n: usize,
                k: usize,
                dst: *mut f32,
                dst_cs: isize,
                dst_rs: isize,
                read_dst: bool,
                lhs: *const f32,
                lhs_cs: isize,
                lhs_rs: isize,
                rhs: *const f32,
                rhs_cs: isize,
                rhs_rs: isize,
                alpha: f32,
                beta: f32,
                _conj_dst: bool,
                _conj_lhs: bool,
                _conj_rhs: bool,
                parallelism: gemm::Parallelism,
            ) {
                use $ukr as ukr;
                const N: usize = $n;
                let Some(simd) = <$simd as MixedSimd<f32, f32, f32, f32>>::try_new() else {
                    // Unreachable: `force_gemm_kernel` checked the CPU; run the crate's choice.
                    // SAFETY: same arguments, same contract.
                    unsafe {
                        gemm::gemm(
                            m, n, k, dst, dst_cs, dst_rs, read_dst, lhs, lhs_cs, lhs_rs, rhs, rhs_cs,
                            rhs_rs, alpha, beta, false, false, false, parallelism,
                        )
                    };
                    return;
                };
                // As `gemm::gemm` does: its microkernels are column-major, so a row-major
                // destination is computed as the transposed product.
                let (m, n, dst_cs, dst_rs, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs) =
                    if dst_cs.abs() < dst_rs.abs() {
                        (n, m, dst_rs, dst_cs, rhs, rhs_rs, rhs_cs, lhs, lhs_rs, lhs_cs)
                    } else {
                        (m, n, dst_cs, dst_rs, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs)
                    };
                // SAFETY: the caller's matrices, as `gemm::gemm` would pass them on.
                unsafe {
                    gemm_basic_generic::<
                        _,
                        f32,
                        N,
                        { ukr::MR_DIV_N * N },
                        { ukr::NR },
                        { ukr::MR_DIV_N },
                        { ukr::H_M },
                        { ukr::H_N },
                    >(
                        simd,
                        m,
                        n,
                        k,
                        dst,
                        dst_cs,
                        dst_rs,
                        read_dst,
                        lhs,
                        lhs_cs,
                        lhs_rs,
                        rhs,
                        rhs_cs,
                        rhs_rs,
                        alpha,
                        beta,
                        false,
                        false,
                        false,
                        |a, b, c| a * b + c,
                        &ukr::UKR,
                        &ukr::H_UKR,
                        false,
                        parallelism,
                    )
                }
            }
        };
    }

    #[cfg(target_arch = "x86_64")]
    family!(fma, gemm_common::simd::V3, gemm_f32::microkernel::fma::f32, 8);
    family!(scalar, gemm_common::simd::Scalar, gemm_f32::microkernel::scalar::f32, 1);
}

/// Runs `f` compiled for the vector instruction set the GEMM family uses now (AVX-512 or
/// AVX2 on x86-64, detected at run time; a forced narrower family is honoured, so tests
/// cover each path): the crate is built for the baseline ISA, and the elementwise loops
/// of these kernels (register blocks, compare/selects, bias and activation) only
/// vectorise wide inside a function with the features enabled. `f` is inlined into the
/// wrapper, as a closure with one call site is.
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        
        match gemm_kernel() {
            // SAFETY: gemm_kernel() only reports a family the CPU supports.
            GemmKernel::Avx512 => return unsafe { simd::avx512(f) },
            // SAFETY: as above (AVX2 and FMA detected).
            GemmKernel::Avx2 => return unsafe { simd::avx2(f) },
            _ => {}
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
mod simd {
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detected_family_is_supported_and_named() {
        let k = detected_gemm_kernel();
        assert!(k.supported());
        assert_eq!(GemmKernel::parse(k.name()), Some(k));
        assert!(GemmKernel::Scalar.supported());
    }

    #[test]
    fn unknown_or_unsupported_family_is_an_error() {
        assert!(force_gemm_kernel(Some("avx1024")).is_err());
        for k in GemmKernel::ALL {
            if !k.supported() {
                assert!(force_gemm_kernel(Some(k.name())).is_err());
            }
        }
    }
}
