//! The inner loops: dot products over `f32` and Hamming distances over sign codes, each with a
//! portable body and an x86-64 copy compiled for wider instructions, picked at run time.
//!
//! The wheel targets baseline x86-64 (SSE2, no `popcnt`): there `u64::count_ones` is a dozen-
//! instruction bit twiddle and a dot product runs in 4-lane registers. The same bodies compiled
//! with `popcnt` / `avx2` enabled are faster, hence the dispatch. Measured on 384 dimensions: the
//! Hamming scan 5.3 -> 3.0 ns per code; a dot product 41 -> 30 ns per vector in L2, but an exact
//! scan of 4096 vectors only 10-20 % faster (it waits on memory).

use std::collections::BinaryHeap;

/// Lanes summed independently. Float addition is not associative, so LLVM vectorises only the
/// split the source writes: 16 separate sums become four SSE or two AVX accumulators. (Measured
/// on 384 floats: 32 lanes, nested `[[f32; 8]; 4]` arrays and `f32::mul_add` came out as 2-wide
/// or shuffled code, up to 2.5 times slower.)
const LANES: usize = 16;

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    sum_lanes(acc) + tail
}

/// Halving sums, kept out of line: inlined, its pattern led LLVM to vectorise the main loop
/// 2-wide instead of 8-wide.
#[inline(never)]
fn sum_lanes(acc: [f32; LANES]) -> f32 {
    let half: [f32; 8] = std::array::from_fn(|i| acc[i] + acc[i + 8]);
    let quarter: [f32; 4] = std::array::from_fn(|i| half[i] + half[i + 4]);
    (quarter[0] + quarter[2]) + (quarter[1] + quarter[3])
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_body(a, b)
}

/// The `k` smallest `(distance, slot)` offered so far, as a max-heap.
struct Nearest {
    heap: BinaryHeap<(u32, u32)>,
    k: usize,
    worst: u32,
}

impl Nearest {
    fn new(k: usize) -> Self {
        Self {
            heap: BinaryHeap::with_capacity(k + 1),
            k,
            // Nothing is below 0: with k == 0 every offer is turned down.
            worst: if k == 0 { 0 } else { u32::MAX },
        }
    }

    #[inline(always)]
    fn offer(&mut self, d: u32, slot: usize, alive: bool) {
        // Rarely taken once the heap is full: the scan stays a straight run of popcounts.
        if d < self.worst && alive {
            // Slots are u32 by construction (`FlatIndex::insert`).
            self.heap.push((d, slot as u32));
            if self.heap.len() > self.k {
                self.heap.pop();
            }
            if self.heap.len() == self.k {
                self.worst = self.heap.peek().map_or(u32::MAX, |&(d, _)| d);
            }
        }
    }
}

/// The scan for codes of `W` words, unrolled (a loop over a run-time word count costs about
/// twice as much per code).
#[inline(always)]
fn nearest_fixed<const W: usize>(
    codes: &[u64],
    live: &[bool],
    query: &[u64; W],
    k: usize,
) -> Nearest {
    let mut nearest = Nearest::new(k);
    for (slot, (code, &alive)) in codes.as_chunks::<W>().0.iter().zip(live).enumerate() {
        let d = (0..W).map(|i| (code[i] ^ query[i]).count_ones()).sum();
        nearest.offer(d, slot, alive);
    }
    nearest
}

/// Hamming distance from `query` to every code of `codes` (`query.len()` words each), keeping the
/// `k` nearest live ones.
#[inline(always)]
fn nearest_codes_body(codes: &[u64], live: &[bool], query: &[u64], k: usize) -> Nearest {
    // The word counts of common embedding sizes: 384, 768, 1024, 1536 and 3072 dimensions.
    if let Ok(q) = <&[u64; 6]>::try_from(query) {
        return nearest_fixed(codes, live, q, k);
    }
    if let Ok(q) = <&[u64; 12]>::try_from(query) {
        return nearest_fixed(codes, live, q, k);
    }
    if let Ok(q) = <&[u64; 16]>::try_from(query) {
        return nearest_fixed(codes, live, q, k);
    }
    if let Ok(q) = <&[u64; 24]>::try_from(query) {
        return nearest_fixed(codes, live, q, k);
    }
    if let Ok(q) = <&[u64; 48]>::try_from(query) {
        return nearest_fixed(codes, live, q, k);
    }
    let mut nearest = Nearest::new(k);
    for (slot, (code, &alive)) in codes.chunks_exact(query.len()).zip(live).enumerate() {
        let d = code
            .iter()
            .zip(query)
            .map(|(c, q)| (c ^ q).count_ones())
            .sum();
        nearest.offer(d, slot, alive);
    }
    nearest
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn nearest_codes_popcnt(codes: &[u64], live: &[bool], query: &[u64], k: usize) -> Nearest {
    nearest_codes_body(codes, live, query, k)
}

/// Which compiled copy of the loops this CPU runs; detected once per index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kernels {
    avx2: bool,
    popcnt: bool,
}

impl Kernels {
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            Self {
                avx2: is_x86_feature_detected!("avx2"),
                popcnt: is_x86_feature_detected!("popcnt"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Self::portable()
        }
    }

    /// The baseline copies only (tests compare them with the dispatched ones).
    #[cfg(test)]
    pub(crate) fn portable() -> Self {
        Self {
            avx2: false,
            popcnt: false,
        }
    }

    /// `a · b`; the caller guarantees equal lengths.
    #[inline]
    pub(crate) fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only true when the running CPU reported AVX2.
            return unsafe { dot_avx2(a, b) };
        }
        dot_body(a, b)
    }

    /// The `k` live slots whose codes are nearest `query` in Hamming distance, unordered.
    pub(crate) fn nearest_codes(
        self,
        codes: &[u64],
        live: &[bool],
        query: &[u64],
        k: usize,
    ) -> Vec<(u32, u32)> {
        #[cfg(target_arch = "x86_64")]
        if self.popcnt {
            // SAFETY: `popcnt` is only true when the running CPU reported POPCNT.
            return unsafe { nearest_codes_popcnt(codes, live, query, k) }
                .heap
                .into_vec();
        }
        nearest_codes_body(codes, live, query, k).heap.into_vec()
    }
}

/// Sets `code` to the sign bits of `v` (bit set = positive), one bit per dimension.
pub(crate) fn sign_code(v: &[f32], code: &mut [u64]) {
    for (word, chunk) in code.iter_mut().zip(v.chunks(64)) {
        // Shifted in rather than branched on: the signs are coin flips to a branch predictor.
        *word = chunk
            .iter()
            .enumerate()
            .fold(0, |w, (j, &x)| w | (u64::from(x > 0.0) << j));
    }
}

/// 64-bit words of the sign code of a `dims`-dimension vector.
pub(crate) fn code_words(dims: usize) -> usize {
    dims.div_ceil(64)
}
