use super::kernels::{code_words, sign_code, Kernels};
use super::*;

/// splitmix64: reproducible vectors without a random-number crate.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Box-Muller.
    fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }

    fn gaussian(&mut self, dims: usize) -> Vec<f64> {
        (0..dims).map(|_| self.normal()).collect()
    }
}

fn unit(v: &[f64]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter().map(|x| (x / n) as f32).collect()
}

/// Unit vectors around a shared direction (mean cosine ~0.2, like sentence embeddings).
fn corpus(rng: &mut Rng, dims: usize, n: usize) -> Vec<Vec<f32>> {
    let mean = unit(&rng.gaussian(dims));
    (0..n)
        .map(|_| {
            let noise = rng.gaussian(dims);
            let scale = 0.5 * (dims as f64).sqrt();
            let v: Vec<f64> = mean
                .iter()
                .zip(&noise)
                .map(|(&m, z)| f64::from(m) * scale + z)
                .collect();
            unit(&v)
        })
        .collect()
}

/// A unit vector at cosine `cos` from unit vector `v`.
fn near(rng: &mut Rng, v: &[f32], cos: f64) -> Vec<f32> {
    let r = rng.gaussian(v.len());
    let along: f64 = r.iter().zip(v).map(|(a, &b)| a * f64::from(b)).sum();
    let ortho = unit(
        &r.iter()
            .zip(v)
            .map(|(a, &b)| a - along * f64::from(b))
            .collect::<Vec<_>>(),
    );
    let sin = (1.0 - cos * cos).sqrt();
    let out: Vec<f64> = v
        .iter()
        .zip(&ortho)
        .map(|(&a, &o)| cos * f64::from(a) + sin * f64::from(o))
        .collect();
    unit(&out)
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

/// Reference: every stored vector scored in f64, best first.
fn brute(stored: &[(u32, Vec<f32>)], q: &[f32], threshold: f32, limit: usize) -> Vec<(u32, f64)> {
    let mut hits: Vec<(u32, f64)> = stored
        .iter()
        .map(|(slot, v)| (*slot, dot64(v, q)))
        .filter(|&(_, s)| s >= f64::from(threshold))
        .collect();
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    hits.truncate(limit);
    hits
}

fn filled(index: &mut FlatIndex, vectors: &[Vec<f32>]) -> Vec<(u32, Vec<f32>)> {
    vectors
        .iter()
        .map(|v| (index.insert(v).unwrap(), v.clone()))
        .collect()
}

#[test]
fn exact_search_matches_brute_force() {
    let mut rng = Rng(1);
    for dims in [2, 3, 100, 384] {
        let vectors = corpus(&mut rng, dims, 300);
        let mut index = FlatIndex::new(dims).unwrap();
        let stored = filled(&mut index, &vectors);
        for q in 0..20 {
            let query = if q % 2 == 0 {
                near(&mut rng, &vectors[q * 7], 0.97)
            } else {
                unit(&rng.gaussian(dims))
            };
            for (threshold, limit) in [(-1.0, 5), (0.3, 300), (0.9, 3), (0.999, 1)] {
                let got = index.search(&query, threshold, limit).unwrap();
                let want = brute(&stored, &query, threshold, limit);
                assert!(got.len().abs_diff(want.len()) <= 1, "{dims} {threshold}");
                for ((gs, gscore), (ws, wscore)) in got.iter().zip(&want) {
                    assert!((f64::from(*gscore) - wscore).abs() < 1e-5);
                    // Slots may swap only between near-equal scores (f32 vs f64 rounding).
                    assert!(gs == ws || (f64::from(*gscore) - wscore).abs() < 1e-5);
                }
                assert!(got.iter().all(|&(_, s)| s >= threshold));
                assert!(got.windows(2).all(|w| w[0].1 >= w[1].1));
            }
        }
    }
}

#[test]
fn slots_are_reused_and_removed_vectors_never_found() {
    let mut index = FlatIndex::new(2).unwrap();
    let a = index.insert(&[1.0, 0.0]).unwrap();
    let b = index.insert(&[0.0, 1.0]).unwrap();
    let c = index.insert(&[0.6, 0.8]).unwrap();
    assert_eq!((a, b, c, index.len()), (0, 1, 2, 3));
    index.remove(b).unwrap();
    assert_eq!(index.len(), 2);
    assert_eq!(index.search(&[0.0, 1.0], 0.9, 10).unwrap(), vec![]);
    assert_eq!(index.remove(b), Err(VindexError::NoSuchSlot(1)));
    assert_eq!(index.remove(7), Err(VindexError::NoSuchSlot(7)));
    // The freed slot is handed out again, holding the new vector.
    assert_eq!(index.insert(&[-1.0, 0.0]).unwrap(), 1);
    assert_eq!(index.search(&[-1.0, 0.0], 0.9, 10).unwrap(), vec![(1, 1.0)]);
    for slot in [0, 1, 2] {
        index.remove(slot).unwrap();
    }
    assert!(index.is_empty());
    assert_eq!(index.search(&[1.0, 0.0], -1.0, 10).unwrap(), vec![]);
}

#[test]
fn threshold_and_limit() {
    let mut index = FlatIndex::new(2).unwrap();
    for v in [[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0]] {
        index.insert(&v).unwrap();
    }
    let q = [1.0, 0.0];
    let slots = |hits: Vec<(u32, f32)>| hits.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
    assert_eq!(slots(index.search(&q, 0.7, 10).unwrap()), vec![0, 1]);
    assert_eq!(slots(index.search(&q, 0.6, 10).unwrap()), vec![0, 1, 2]);
    assert_eq!(slots(index.search(&q, -1.0, 2).unwrap()), vec![0, 1]);
    assert_eq!(slots(index.search(&q, 1.5, 10).unwrap()), Vec::<u32>::new());
    assert_eq!(slots(index.search(&q, -1.0, 0).unwrap()), Vec::<u32>::new());
    // Equal scores: lower slot first.
    index.insert(&[1.0, 0.0]).unwrap();
    assert_eq!(slots(index.search(&q, 0.99, 10).unwrap()), vec![0, 4]);
}

#[test]
fn refused_input() {
    assert_eq!(FlatIndex::new(0).unwrap_err(), VindexError::BadDims(0));
    assert!(FlatIndex::new(MAX_DIMS + 1).is_err());
    let mut index = FlatIndex::new(3).unwrap();
    let mismatch = VindexError::DimsMismatch {
        expected: 3,
        got: 2,
    };
    assert_eq!(index.insert(&[1.0, 0.0]), Err(mismatch.clone()));
    assert_eq!(index.search(&[1.0, 0.0], 0.5, 1), Err(mismatch));
    assert_eq!(
        index.insert(&[1.0, f32::NAN, 0.0]),
        Err(VindexError::NonFinite(1))
    );
    assert_eq!(
        index.search(&[f32::INFINITY, 0.0, 0.0], 0.5, 1),
        Err(VindexError::NonFinite(0))
    );
    assert!(matches!(
        index.search(&[1.0, 0.0, 0.0], f32::NAN, 1),
        Err(VindexError::BadThreshold(_))
    ));
    assert!(index.is_empty(), "nothing stored by refused inserts");
    assert_eq!(decode_le(&[0; 7]), Err(VindexError::BadLength(7)));
    assert_eq!(
        decode_le(&[0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]).unwrap(),
        vec![1.0, -2.0]
    );
    assert_eq!(
        VindexError::NoSuchSlot(3).to_string(),
        "slot 3 holds no vector"
    );
}

/// The prefilter finds the exact best neighbour of near-duplicate queries, and nothing for
/// unrelated ones, in a bucket of clustered vectors (small sizes: tests run unoptimized).
#[test]
fn prefilter_agrees_with_exact_search() {
    let mut rng = Rng(7);
    for dims in [100, 384] {
        let vectors = corpus(&mut rng, dims, 2500);
        let mut index = FlatIndex::with_tuning(dims, 500, 64).unwrap();
        filled(&mut index, &vectors);
        assert!(index.len() > index.exact_limit);
        for q in 0..80 {
            let cos = 0.962 + 0.033 * (q % 8) as f64 / 7.0;
            let query = near(&mut rng, &vectors[q * 31], cos);
            let got = index.search(&query, 0.96, 1).unwrap();
            let want = index.search_exact(&query, 0.96, 1).unwrap();
            assert_eq!(got, want, "dims {dims} query {q}");
            assert_eq!(got.first().map(|h| h.0), Some(q as u32 * 31));
        }
        for _ in 0..20 {
            let query = unit(&rng.gaussian(dims));
            assert_eq!(index.search(&query, 0.96, 1).unwrap(), vec![]);
        }
    }
}

#[test]
fn prefilter_follows_removals_and_reused_slots() {
    let mut rng = Rng(11);
    let dims = 64;
    let vectors = corpus(&mut rng, dims, 1000);
    let mut index = FlatIndex::with_tuning(dims, 100, 32).unwrap();
    filled(&mut index, &vectors);
    index.remove(10).unwrap();
    let query = near(&mut rng, &vectors[10], 0.99);
    assert!(index.search(&query, 0.9, 5).unwrap().is_empty());
    let fresh = unit(&rng.gaussian(dims));
    assert_eq!(index.insert(&fresh).unwrap(), 10);
    let hit = index.search(&near(&mut rng, &fresh, 0.98), 0.9, 5).unwrap();
    assert_eq!(hit.first().map(|h| h.0), Some(10));
    // Shrunk back under the limit: exact again, still consistent.
    for slot in 100..1000 {
        index.remove(slot).unwrap();
    }
    let q = near(&mut rng, &vectors[50], 0.97);
    assert_eq!(
        index.search(&q, 0.5, 3).unwrap(),
        index.search_exact(&q, 0.5, 3).unwrap()
    );
    // A limit above the oversample widens the candidate set.
    let mut big = FlatIndex::with_tuning(dims, 10, 4).unwrap();
    let same = unit(&rng.gaussian(dims));
    for _ in 0..50 {
        big.insert(&same).unwrap();
    }
    assert_eq!(big.search(&same, 0.99, 40).unwrap().len(), 40);
}

#[test]
fn kernels_agree_with_portable_and_f64() {
    let mut rng = Rng(3);
    let (fast, slow) = (Kernels::detect(), Kernels::portable());
    for dims in [1, 31, 32, 384, 1537] {
        let a = unit(&rng.gaussian(dims));
        let b = unit(&rng.gaussian(dims));
        let want = dot64(&a, &b);
        for k in [fast, slow] {
            assert!((f64::from(k.dot(&a, &b)) - want).abs() < 1e-5, "{dims}");
        }
        let words = code_words(dims);
        let mut codes = vec![0u64; 200 * words];
        for code in codes.chunks_exact_mut(words) {
            sign_code(&unit(&rng.gaussian(dims)), code);
        }
        let mut live = vec![true; 200];
        live[3] = false;
        let mut q = vec![0u64; words];
        sign_code(&a, &mut q);
        let mut got = fast.nearest_codes(&codes, &live, &q, 20);
        let mut want = slow.nearest_codes(&codes, &live, &q, 20);
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(got.len(), 20);
        assert!(got.iter().all(|&(_, slot)| slot != 3));
        assert!(fast.nearest_codes(&codes, &live, &q, 0).is_empty());
    }
}

#[test]
fn sign_code_bits() {
    let mut code = [0u64; 2];
    let mut v = vec![-1.0f32; 65];
    v[0] = 1.0;
    v[64] = 0.5;
    sign_code(&v, &mut code);
    assert_eq!(code, [1, 1]);
    v[64] = 0.0;
    sign_code(&v, &mut code);
    assert_eq!(code, [1, 0]);
}
