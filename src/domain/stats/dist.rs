//! Panic-free wrappers around the `statrs` distributions used by the module.
//!
//! `statrs` asserts on out-of-domain arguments (e.g. `inverse_cdf` outside
//! [0, 1]); every function here checks its inputs first and returns `None`
//! instead, and never returns a non-finite value inside `Some`.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};
use statrs::function::gamma::{checked_gamma_lr, checked_gamma_ur};

/// Degrees of freedom above which Student's t is evaluated with the
/// Cornish–Fisher expansion in 1/ν (exact to ~1e-15 relative there) instead
/// of the incomplete beta function, whose continued fraction suffers
/// cancellation as x = ν/(ν + t²) → 1.
const LARGE_DOF: f64 = 1e4;

/// Cornish–Fisher expansion of the t quantile (Abramowitz & Stegun 26.7.5):
/// t = x + g1(x)/ν + g2(x)/ν² + g3(x)/ν³ + g4(x)/ν⁴, where x is the normal
/// quantile. Returns (t, dt/dx).
fn cornish_fisher(x: f64, dof: f64) -> (f64, f64) {
    let r = 1.0 / dof;
    let x2 = x * x;
    let g1 = (x2 + 1.0) * x / 4.0;
    let g2 = ((5.0 * x2 + 16.0) * x2 + 3.0) * x / 96.0;
    let g3 = (((3.0 * x2 + 19.0) * x2 + 17.0) * x2 - 15.0) * x / 384.0;
    let g4 = ((((79.0 * x2 + 776.0) * x2 + 1482.0) * x2 - 1920.0) * x2 - 945.0) * x / 92160.0;
    let d1 = (3.0 * x2 + 1.0) / 4.0;
    let d2 = ((25.0 * x2 + 48.0) * x2 + 3.0) / 96.0;
    let d3 = (((21.0 * x2 + 95.0) * x2 + 51.0) * x2 - 15.0) / 384.0;
    let d4 = ((((711.0 * x2 + 5432.0) * x2 + 7410.0) * x2 - 5760.0) * x2 - 945.0) / 92160.0;
    (
        x + r * (g1 + r * (g2 + r * (g3 + r * g4))),
        1.0 + r * (d1 + r * (d2 + r * (d3 + r * d4))),
    )
}

/// Two-sided t tail for dof > LARGE_DOF: invert the Cornish–Fisher map
/// t = CF(x) by Newton, then P(|T| ≥ |t|) = 2·Φ(−x).
fn t_two_sided_p_large_dof(t: f64, dof: f64) -> Option<f64> {
    let t = t.abs();
    if t >= 40.0 {
        // with dof > 1e4 the true tail is below 1e-300
        return Some(0.0);
    }
    let mut x = t;
    for _ in 0..50 {
        let (f, d) = cornish_fisher(x, dof);
        let step = (f - t) / d;
        x -= step;
        if step.abs() <= 2.0 * f64::EPSILON * x.abs().max(1.0) {
            break;
        }
    }
    some_finite((2.0 * normal_sf(x)?).min(1.0))
}

fn some_finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Standard normal survival function 1 − Φ(x), accurate to ~1e-15
/// relative in both tails.
///
/// Uses Φ̄(x) = ½·Q(½, x²/2) (regularized upper incomplete gamma) for
/// x ≥ 0: `statrs`' `erfc` carries ~5e-11 relative error (its rational
/// approximations use single-precision break-point constants), its
/// incomplete gamma does not.
pub(super) fn normal_sf(x: f64) -> Option<f64> {
    if x.is_nan() {
        return None;
    }
    if x > 40.0 {
        return Some(0.0); // true value < 1e-349
    }
    if x < -40.0 {
        return Some(1.0);
    }
    let h = 0.5 * x * x;
    if h == 0.0 {
        return Some(0.5);
    }
    let v = if x > 0.0 {
        0.5 * checked_gamma_ur(0.5, h).ok()?
    } else {
        0.5 + 0.5 * checked_gamma_lr(0.5, h).ok()?
    };
    some_finite(v.clamp(0.0, 1.0))
}

/// Standard normal CDF Φ(x). `None` for NaN input.
pub(super) fn normal_cdf(x: f64) -> Option<f64> {
    normal_sf(-x)
}

/// Standard normal density φ(x).
fn normal_pdf(x: f64) -> f64 {
    /// 1/√(2π)
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Standard normal quantile Φ⁻¹(p) for p strictly inside (0, 1):
/// `statrs`' inverse as a start, polished by Newton on [`normal_cdf`].
pub fn normal_quantile(p: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0) {
        return None;
    }
    let start = Normal::new(0.0, 1.0).ok()?.inverse_cdf(p);
    if !start.is_finite() {
        return None;
    }
    // lower tail: solve Φ(y) = q, y <= 0, q = min(p, 1 − p); then reflect
    let upper = p > 0.5;
    let q = if upper { 1.0 - p } else { p };
    let mut y = -start.abs();
    for _ in 0..4 {
        let d = normal_pdf(y);
        if d <= 0.0 {
            break;
        }
        let step = (normal_cdf(y)? - q) / d;
        if !step.is_finite() || step == 0.0 {
            break;
        }
        y = (y - step).min(0.0);
    }
    some_finite(if upper { -y } else { y })
}

/// ln B(a, 1/2), accurate also for large `a` (where the textbook
/// ln Γ(a) + ln Γ(1/2) − ln Γ(a + 1/2) loses ~log10(a·ln a) digits to
/// cancellation). `a > 0`.
fn ln_beta_half(a: f64) -> Option<f64> {
    /// ln Γ(1/2) = ln √π
    const LN_SQRT_PI: f64 = 0.572_364_942_924_700_1;
    if a < 10.0 {
        return statrs::function::beta::checked_ln_beta(a, 0.5).ok();
    }
    // ln Γ(a + 1/2) − ln Γ(a) = ½ ln a + Σ_k (−1)^k (B_k(½) − B_k) / (k(k−1) a^{k−1})
    //   = ½ ln a − 1/(8a) + 1/(192a³) − 1/(640a⁵) + 17/(14336a⁷) − 31/(18432a⁹) + …
    let r = 1.0 / a;
    let r2 = r * r;
    let series = r
        * (-1.0 / 8.0
            + r2 * (1.0 / 192.0
                + r2 * (-1.0 / 640.0 + r2 * (17.0 / 14336.0 - r2 * 31.0 / 18432.0))));
    some_finite(LN_SQRT_PI - (0.5 * a.ln() + series))
}

/// Continued fraction of the regularized incomplete beta function
/// (modified Lentz), such that I_x(a, b) = x^a (1−x)^b / (a·B(a, b)) · cf.
/// Converges quickly for x < (a + 1)/(a + b + 2); `None` if it does not
/// converge within the iteration budget.
fn beta_cf(a: f64, b: f64, x: f64) -> Option<f64> {
    const TINY: f64 = 1e-300;
    const MAX_ITER: u32 = 1_000_000;
    let fix = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / fix(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=MAX_ITER {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() <= 2.0 * f64::EPSILON {
            return some_finite(h);
        }
    }
    None
}

/// Two-sided tail probability P(|T| ≥ |t|) for Student's t with `dof > 0`
/// degrees of freedom (non-integer allowed, as for Welch).
///
/// Computed as the regularized incomplete beta I_x(dof/2, 1/2) with
/// x = dof/(dof + t²), using 1 − x = t²/(dof + t²) directly and an
/// asymptotic ln B, accurate to ~1e-12 relative for dof <= 1e4 with full
/// relative precision for tiny p-values; above 1e4 the Cornish–Fisher
/// expansion is used. (`statrs`' own `beta_reg` loses ~1e-9 relative at
/// dof = 1e6 and stops its continued fraction after 140 terms.)
pub(super) fn t_two_sided_p(t: f64, dof: f64) -> Option<f64> {
    if t.is_nan() || dof.is_nan() || dof <= 0.0 {
        return None;
    }
    if t == 0.0 {
        return Some(1.0);
    }
    if dof > LARGE_DOF {
        return t_two_sided_p_large_dof(t, dof);
    }
    if t.is_infinite() {
        return Some(0.0);
    }
    let t2 = t * t;
    let u = t2 / dof; // t²/ν
    if !u.is_finite() || u > 1e300 {
        return Some(0.0);
    }
    let (a, b) = (0.5 * dof, 0.5);
    let y = t2 / (dof + t2); // 1 − x, no cancellation
    let y = if y.is_finite() {
        y
    } else {
        1.0 / (1.0 + 1.0 / u)
    };
    let ln_x = -u.ln_1p();
    let ln_y = y.ln();
    let ln_front = a * ln_x + b * ln_y - ln_beta_half(a)?;
    let front = ln_front.exp();
    let p = if y > (b + 1.0) / (a + b + 2.0) {
        // x < (a+1)/(a+b+2): direct continued fraction for I_x(a, b)
        front * beta_cf(a, b, 1.0 - y)? / a
    } else {
        // symmetry: I_x(a, b) = 1 − I_{1−x}(b, a)
        1.0 - front * beta_cf(b, a, y)? / b
    };
    some_finite(p.clamp(0.0, 1.0))
}

/// Lower-tail CDF of Student's t at y <= 0: ½·P(|T| ≥ |y|).
fn t_lower_cdf(y: f64, dof: f64) -> Option<f64> {
    Some(0.5 * t_two_sided_p(y, dof)?)
}

/// Density of Student's t, using the accurate ln B(ν/2, 1/2).
fn t_pdf(y: f64, dof: f64) -> Option<f64> {
    let ln = -0.5 * (dof + 1.0) * (y * y / dof).ln_1p() - 0.5 * dof.ln() - ln_beta_half(0.5 * dof)?;
    some_finite(ln.exp())
}

/// Quantile of Student's t with `dof > 0` for p strictly inside (0, 1).
///
/// Starts from `statrs`' inverse (AS 64 on the incomplete beta) and polishes
/// it with Newton steps on the accurate lower-tail CDF so interval bounds
/// match SciPy's `t.ppf` to ~1e-12 relative.
pub(super) fn t_quantile(p: f64, dof: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0) || dof.is_nan() || dof <= 0.0 {
        return None;
    }
    if dof > LARGE_DOF {
        return some_finite(cornish_fisher(normal_quantile(p)?, dof).0);
    }
    let dist = StudentsT::new(0.0, 1.0, dof).ok()?;
    let start = dist.inverse_cdf(p);
    if !start.is_finite() {
        return None;
    }
    // Solve on the lower tail, F(y) = q with y <= 0, q = min(p, 1 − p);
    // then reflect.
    let upper = p > 0.5;
    let q = if upper { 1.0 - p } else { p };
    let mut y = -start.abs();
    for _ in 0..20 {
        let f = t_lower_cdf(y, dof)? - q;
        let d = t_pdf(y, dof)?;
        if d <= 0.0 {
            break;
        }
        let step = f / d;
        if !step.is_finite() {
            break;
        }
        let next = (y - step).min(0.0);
        let done = (next - y).abs() <= 4.0 * f64::EPSILON * y.abs();
        y = next;
        if done {
            break;
        }
    }
    some_finite(if upper { -y } else { y })
}

/// Upper tail P(X ≥ x) of the chi-square distribution with `k >= 1`
/// degrees of freedom.
pub(super) fn chi2_sf(x: f64, k: f64) -> Option<f64> {
    if x.is_nan() || !k.is_finite() || k <= 0.0 {
        return None;
    }
    if x <= 0.0 {
        return Some(1.0);
    }
    if x.is_infinite() {
        return Some(0.0);
    }
    let dist = ChiSquared::new(k).ok()?;
    some_finite(dist.sf(x).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    // Reference values: scipy 1.17 (scipy.stats.t / norm / chi2).
    #[test]
    fn t_quantile_matches_scipy() {
        let cases = [
            (0.975, 1.0, 12.706204736174694),
            (0.975, 1.1, 10.2768012862812),
            (0.975, 2.1, 4.112152758173878),
            (0.995, 5.0, 4.032142983555228),
            (0.975, 49.0, 2.0095752371292392),
            (0.975, 991.6, 1.9623592247979313),
            (0.95, 1e6, 1.6448551507220404),
            (0.025, 30.0, -2.042272456301238),
            (0.9995, 3.0, 12.923978636687961),
        ];
        for (p, dof, want) in cases {
            let got = t_quantile(p, dof).unwrap();
            assert!(close(got, want, 1e-10), "p={p} dof={dof}: {got} vs {want}");
        }
    }

    #[test]
    fn t_p_values_match_scipy() {
        // 2 * t.sf(|t|, dof)
        let cases = [
            (2.0, 10.0, 0.07338803477074037),
            (3.381, 991.6, 0.0007504081463214664),
            (10.0, 5.0, 0.00017094757574296363),
            (0.0, 3.0, 1.0),
            (40.0, 100.0, 2.462107602140071e-63),
            (1.5, 5e7, 0.13361440885169887),
        ];
        for (t, dof, want) in cases {
            let got = t_two_sided_p(t, dof).unwrap();
            assert!(close(got, want, 1e-9), "t={t} dof={dof}: {got} vs {want}");
            assert_eq!(got, t_two_sided_p(-t, dof).unwrap());
        }
    }

    #[test]
    fn ln_beta_half_asymptotic_agrees_with_statrs() {
        for a in [10.0, 12.5, 20.0] {
            let want = statrs::function::beta::ln_beta(a, 0.5);
            let got = ln_beta_half(a).unwrap();
            assert!((got - want).abs() < 1e-13, "a={a}: {got} vs {want}");
        }
        // scipy.special.betaln(55, 0.5)
        assert!((ln_beta_half(55.0).unwrap() - -1.4290289537204879).abs() < 1e-14);
    }

    #[test]
    fn huge_dof_tends_to_normal() {
        for t in [0.3, 1.6, 1.7320508, 1.8, 2.5, 6.0] {
            for dof in [1e15, f64::INFINITY] {
                let p = t_two_sided_p(t, dof).unwrap();
                let z = 2.0 * normal_sf(t).unwrap();
                assert!((p - z).abs() <= 1e-11 * z, "t={t}: {p} vs {z}");
            }
        }
        let q = t_quantile(0.975, f64::INFINITY).unwrap();
        assert!((q - 1.959963984540054).abs() < 1e-14);
    }

    #[test]
    fn both_branches_agree_at_the_switch() {
        for t in [0.5, 1.75, 2.0, 3.0, 6.0, 12.0] {
            let below = t_two_sided_p(t, LARGE_DOF).unwrap();
            let above = t_two_sided_p(t, LARGE_DOF * (1.0 + 1e-12)).unwrap();
            assert!(
                (below - above).abs() <= 1e-11 * below,
                "t={t}: {below} vs {above}"
            );
        }
    }

    #[test]
    fn guards_instead_of_panics() {
        assert_eq!(t_quantile(0.0, 5.0), None);
        assert_eq!(t_quantile(1.0, 5.0), None);
        assert_eq!(t_quantile(f64::NAN, 5.0), None);
        assert_eq!(t_quantile(0.5, 0.0), None);
        assert_eq!(t_two_sided_p(f64::NAN, 3.0), None);
        assert_eq!(t_two_sided_p(1.0, -1.0), None);
        assert_eq!(t_two_sided_p(f64::INFINITY, 3.0), Some(0.0));
        assert_eq!(normal_quantile(1.0), None);
        assert_eq!(normal_cdf(f64::NAN), None);
        assert_eq!(chi2_sf(-1.0, 1.0), Some(1.0));
        assert_eq!(chi2_sf(1.0, 0.0), None);
        assert!(close(chi2_sf(3.841458820694124, 1.0).unwrap(), 0.05, 1e-9));
        assert!(close(
            normal_quantile(0.975).unwrap(),
            1.959963984540054,
            1e-12
        ));
    }
}
