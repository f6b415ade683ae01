//! Vector arithmetic for the semantic cache's embeddings: L2 normalization of float32 vectors.
//! Plain Rust (no pyo3); the Python wrapper lives in `crate::py`.
//!
//! The norm is accumulated in `f64`, so every finite non-zero `f32` vector normalizes (no overflow
//! of the sum of squares, no underflow for subnormal components). A zero vector has no direction
//! and is an error, as is a NaN or infinite component: a cache must not store or look up such a
//! key (with zeros it would score 0 against everything, which hides the failure).

use std::fmt;

/// Bytes per `f32` component.
pub const F32_BYTES: usize = 4;

/// Why a vector cannot be normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedError {
    /// The byte length is not a multiple of 4.
    BadLength(usize),
    /// The component at this index is NaN or infinite.
    NonFinite(usize),
    /// Every component is zero (this includes the empty vector).
    Zero,
}

impl fmt::Display for EmbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLength(n) => write!(
                f,
                "vector of {n} bytes: not a whole number of float32 components"
            ),
            Self::NonFinite(i) => write!(f, "component {i} is NaN or infinite"),
            Self::Zero => f.write_str("zero vector: it has no direction"),
        }
    }
}

impl std::error::Error for EmbedError {}

/// Scales `v` in place to unit Euclidean norm.
pub fn normalize_l2(v: &mut [f32]) -> Result<(), EmbedError> {
    let mut sum = 0.0f64;
    for (i, &x) in v.iter().enumerate() {
        if !x.is_finite() {
            return Err(EmbedError::NonFinite(i));
        }
        let x = f64::from(x);
        sum += x * x;
    }
    if sum == 0.0 {
        return Err(EmbedError::Zero);
    }
    let inv = 1.0 / sum.sqrt();
    for x in v.iter_mut() {
        // The quotient has magnitude ≤ 1: the cast cannot overflow.
        *x = (f64::from(*x) * inv) as f32;
    }
    Ok(())
}

/// Normalizes a vector of little-endian `f32` components; returns it in the same encoding.
pub fn normalize_l2_le(bytes: &[u8]) -> Result<Vec<u8>, EmbedError> {
    if !bytes.len().is_multiple_of(F32_BYTES) {
        return Err(EmbedError::BadLength(bytes.len()));
    }
    let mut v: Vec<f32> = bytes
        .chunks_exact(F32_BYTES)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    normalize_l2(&mut v)?;
    Ok(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(v: &[f32]) -> f64 {
        v.iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt()
    }

    fn le(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn unit_norm_and_direction() {
        let mut v = vec![3.0f32, -4.0, 0.0];
        normalize_l2(&mut v).unwrap();
        assert_eq!(v, vec![0.6, -0.8, 0.0]);
    }

    #[test]
    fn already_unit_is_unchanged() {
        let mut v = vec![0.0f32, 1.0, 0.0];
        normalize_l2(&mut v).unwrap();
        assert_eq!(v, vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn extreme_magnitudes() {
        for x in [f32::MAX, f32::MIN_POSITIVE, 1e-45] {
            let mut v = vec![x; 384];
            normalize_l2(&mut v).unwrap();
            assert!((norm(&v) - 1.0).abs() < 1e-6, "{x}: {}", norm(&v));
        }
        let mut v = vec![f32::MAX, 1e-45];
        normalize_l2(&mut v).unwrap();
        assert_eq!(v, vec![1.0, 0.0]);
    }

    #[test]
    fn errors() {
        assert_eq!(normalize_l2(&mut []), Err(EmbedError::Zero));
        assert_eq!(normalize_l2(&mut [0.0, -0.0]), Err(EmbedError::Zero));
        assert_eq!(
            normalize_l2(&mut [1.0, f32::NAN]),
            Err(EmbedError::NonFinite(1))
        );
        assert_eq!(
            normalize_l2(&mut [f32::NEG_INFINITY]),
            Err(EmbedError::NonFinite(0))
        );
        assert_eq!(normalize_l2_le(&[0; 7]), Err(EmbedError::BadLength(7)));
    }

    #[test]
    fn input_untouched_on_error() {
        let mut v = vec![2.0f32, f32::NAN];
        assert!(normalize_l2(&mut v).is_err());
        assert_eq!(v[0], 2.0);
    }

    #[test]
    fn little_endian_round_trip() {
        let out = normalize_l2_le(&le(&[0.0, 2.0, 0.0, 0.0])).unwrap();
        assert_eq!(out, le(&[0.0, 1.0, 0.0, 0.0]));
        let v: Vec<f32> = (0..384).map(|i| (i as f32 - 190.5) * 0.37).collect();
        let out = normalize_l2_le(&le(&v)).unwrap();
        let back: Vec<f32> = out
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert!((norm(&back) - 1.0).abs() < 1e-6);
        let n = norm(&v);
        for (a, b) in v.iter().zip(&back) {
            assert!((f64::from(*a) / n - f64::from(*b)).abs() < 1e-7);
        }
    }

    #[test]
    fn idempotent_within_rounding() {
        let mut v: Vec<f32> = (1..=384).map(|i| (i as f32).sin()).collect();
        normalize_l2(&mut v).unwrap();
        let once = v.clone();
        normalize_l2(&mut v).unwrap();
        for (a, b) in once.iter().zip(&v) {
            assert!((a - b).abs() <= f32::EPSILON);
        }
    }
}
