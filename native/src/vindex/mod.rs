//! An embedded vector index for the semantic cache: "the stored unit vectors nearest this one with
//! cosine >= threshold". Plain Rust (no pyo3); the Python wrapper lives in `crate::py`.
//!
//! Vectors live in numbered slots (freed slots are reused) and are compared by dot product, which
//! is the cosine for the unit vectors the cache stores. Up to `exact_limit` live vectors every
//! search scans them all. Above it, a search first ranks every vector by the Hamming distance
//! between 1-bit sign codes (`dims / 8` bytes each, about 30x less to read than the floats),
//! then scores the `oversample` nearest codes exactly. A near-duplicate (cosine >= 0.96, an angle
//! under 17 degrees) differs from the query in under a tenth of its bits, unrelated questions in
//! about 40 %, so the true best neighbour is missed only when `oversample` other vectors are
//! about as close as it is: see `bench/cache_lookup.py` for the measured recall.
//!
//! Signs are taken of the raw vectors. Centring them first (subtracting the corpus mean, which is
//! what makes a few MiniLM bits nearly constant) was measured on 100k MiniLM-like vectors and
//! changed neither recall nor the true neighbour's Hamming rank, so codes need no frozen mean and
//! are written at insert.

mod kernels;
#[cfg(test)]
mod tests;

use std::fmt;

use kernels::{code_words, sign_code, Kernels};

/// Largest number of dimensions accepted (OpenAI's largest embeddings have 3072).
pub const MAX_DIMS: usize = 1 << 16;

/// Floats scanned by an exact search before the index switches to the prefilter: 4096 vectors
/// of 384 dimensions, fewer of larger ones. The scan is bound by memory reads (~0.2 ms for 6 MB
/// here, ~1 ms at 10k vectors), below a prefiltered search of 100k vectors (~0.35 ms): small
/// buckets get exact answers without raising the worst case.
pub const EXACT_FLOATS: usize = 4096 * 384;

/// Candidates rescored exactly after the Hamming prefilter (at least `limit`). On MiniLM-like
/// vectors in dense clusters the true best neighbour ranked at most 9th by Hamming distance among
/// 100k; each candidate costs ~0.5 µs to rescore (a cache miss per 64 bytes of its vector).
pub const OVERSAMPLE: usize = 64;

/// Why an index operation was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum VindexError {
    /// Dimensions of zero or above `MAX_DIMS`.
    BadDims(usize),
    /// A vector whose length differs from the index's dimensions.
    DimsMismatch { expected: usize, got: usize },
    /// A byte length that is not a multiple of 4.
    BadLength(usize),
    /// The component at this index is NaN or infinite.
    NonFinite(usize),
    /// A NaN threshold.
    BadThreshold(f32),
    /// A slot that holds no vector.
    NoSuchSlot(u32),
    /// Every `u32` slot is taken.
    Full,
}

impl fmt::Display for VindexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadDims(d) => write!(f, "dimensions must be in 1..={MAX_DIMS}, not {d}"),
            Self::DimsMismatch { expected, got } => {
                write!(f, "vector has {got} dimensions, the index {expected}")
            }
            Self::BadLength(n) => write!(
                f,
                "vector of {n} bytes: not a whole number of float32 components"
            ),
            Self::NonFinite(i) => write!(f, "component {i} is NaN or infinite"),
            Self::BadThreshold(t) => write!(f, "threshold must be a number, not {t}"),
            Self::NoSuchSlot(s) => write!(f, "slot {s} holds no vector"),
            Self::Full => f.write_str("the index has no free slot left"),
        }
    }
}

impl std::error::Error for VindexError {}

/// Decodes little-endian `f32` components.
pub fn decode_le(bytes: &[u8]) -> Result<Vec<f32>, VindexError> {
    let (words, rest) = bytes.as_chunks::<4>();
    if !rest.is_empty() {
        return Err(VindexError::BadLength(bytes.len()));
    }
    Ok(words.iter().map(|w| f32::from_le_bytes(*w)).collect())
}

/// A flat index of `dims`-dimension vectors; see the module documentation.
pub struct FlatIndex {
    dims: usize,
    words: usize,
    vectors: Vec<f32>,
    /// Sign codes of every slot, `words` each (dead slots keep stale codes: the scan skips them).
    codes: Vec<u64>,
    live: Vec<bool>,
    free: Vec<u32>,
    len: usize,
    exact_limit: usize,
    oversample: usize,
    kernels: Kernels,
}

impl fmt::Debug for FlatIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlatIndex")
            .field("dims", &self.dims)
            .field("len", &self.len)
            .field("slots", &self.live.len())
            .finish()
    }
}

impl FlatIndex {
    /// An empty index with the default tuning (`EXACT_FLOATS`, `OVERSAMPLE`).
    pub fn new(dims: usize) -> Result<Self, VindexError> {
        Self::with_tuning(dims, Self::default_exact_limit(dims), OVERSAMPLE)
    }

    /// `EXACT_FLOATS` in vectors of `dims` dimensions.
    pub fn default_exact_limit(dims: usize) -> usize {
        (EXACT_FLOATS / dims.max(1)).max(1)
    }

    /// An empty index that searches exactly up to `exact_limit` live vectors and rescores
    /// `oversample` prefilter candidates above it (tests and benchmarks tune these).
    pub fn with_tuning(
        dims: usize,
        exact_limit: usize,
        oversample: usize,
    ) -> Result<Self, VindexError> {
        if dims == 0 || dims > MAX_DIMS {
            return Err(VindexError::BadDims(dims));
        }
        Ok(Self {
            dims,
            words: code_words(dims),
            vectors: Vec::new(),
            codes: Vec::new(),
            live: Vec::new(),
            free: Vec::new(),
            len: 0,
            exact_limit,
            oversample: oversample.max(1),
            kernels: Kernels::detect(),
        })
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Live vectors up to which a search is exact.
    pub fn exact_limit(&self) -> usize {
        self.exact_limit
    }

    /// Live vectors.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `v` (copied) in a free slot and returns the slot.
    pub fn insert(&mut self, v: &[f32]) -> Result<u32, VindexError> {
        self.check(v)?;
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => u32::try_from(self.live.len()).map_err(|_| VindexError::Full)?,
        };
        let i = slot as usize;
        if i == self.live.len() {
            self.vectors.extend_from_slice(v);
            self.codes.resize(self.codes.len() + self.words, 0);
            self.live.push(true);
        } else {
            self.vectors[i * self.dims..(i + 1) * self.dims].copy_from_slice(v);
            self.live[i] = true;
        }
        sign_code(v, &mut self.codes[i * self.words..(i + 1) * self.words]);
        self.len += 1;
        Ok(slot)
    }

    /// Frees `slot`; its number may be handed out again by a later `insert`.
    pub fn remove(&mut self, slot: u32) -> Result<(), VindexError> {
        match self.live.get_mut(slot as usize) {
            Some(alive) if *alive => {
                *alive = false;
                self.free.push(slot);
                self.len -= 1;
                Ok(())
            }
            _ => Err(VindexError::NoSuchSlot(slot)),
        }
    }

    /// Up to `limit` `(slot, score)` with `score >= threshold`, best first (ties: lower slot).
    /// Exact up to `exact_limit` live vectors; above, a vector is only found if its code is among
    /// the `max(oversample, limit)` nearest the query's.
    pub fn search(
        &self,
        query: &[f32],
        threshold: f32,
        limit: usize,
    ) -> Result<Vec<(u32, f32)>, VindexError> {
        if self.len <= self.exact_limit {
            return self.search_exact(query, threshold, limit);
        }
        self.check_query(query, threshold)?;
        let mut code = vec![0; self.words];
        sign_code(query, &mut code);
        // Never more than there are: `limit` comes from the caller and sizes an allocation.
        let k = self.oversample.max(limit).min(self.len);
        let candidates = self
            .kernels
            .nearest_codes(&self.codes, &self.live, &code, k);
        let hits = candidates.into_iter().filter_map(|(_, slot)| {
            let score = self.kernels.dot(self.vector(slot), query);
            (score >= threshold).then_some((slot, score))
        });
        Ok(best_first(hits.collect(), limit))
    }

    /// `search` by scoring every live vector.
    pub fn search_exact(
        &self,
        query: &[f32],
        threshold: f32,
        limit: usize,
    ) -> Result<Vec<(u32, f32)>, VindexError> {
        self.check_query(query, threshold)?;
        let hits = self
            .vectors
            .chunks_exact(self.dims)
            .zip(&self.live)
            .enumerate()
            .filter(|(_, (_, &alive))| alive)
            .filter_map(|(slot, (v, _))| {
                let score = self.kernels.dot(v, query);
                // Slots are u32 by construction (`insert`).
                (score >= threshold).then_some((slot as u32, score))
            });
        Ok(best_first(hits.collect(), limit))
    }

    fn vector(&self, slot: u32) -> &[f32] {
        let i = slot as usize * self.dims;
        &self.vectors[i..i + self.dims]
    }

    fn check(&self, v: &[f32]) -> Result<(), VindexError> {
        if v.len() != self.dims {
            return Err(VindexError::DimsMismatch {
                expected: self.dims,
                got: v.len(),
            });
        }
        match v.iter().position(|x| !x.is_finite()) {
            Some(i) => Err(VindexError::NonFinite(i)),
            None => Ok(()),
        }
    }

    fn check_query(&self, query: &[f32], threshold: f32) -> Result<(), VindexError> {
        if threshold.is_nan() {
            return Err(VindexError::BadThreshold(threshold));
        }
        self.check(query)
    }
}

/// Sorts by score descending, then slot ascending, and keeps the first `limit`. The best `limit`
/// are selected before sorting: in a bucket of near-identical questions thousands of vectors pass
/// the threshold, and sorting all of them to keep 8 was a visible part of a search.
fn best_first(mut hits: Vec<(u32, f32)>, limit: usize) -> Vec<(u32, f32)> {
    let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if limit == 0 {
        return Vec::new();
    }
    if hits.len() > limit {
        hits.select_nth_unstable_by(limit - 1, order);
        hits.truncate(limit);
    }
    hits.sort_unstable_by(order);
    hits
}
