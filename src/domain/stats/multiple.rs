//! Multiple-comparison corrections.

use super::decision::{Insufficient, Parameter};

/// Holm–Bonferroni step-down adjusted p-values, in the input order.
///
/// With p-values sorted ascending p₍₁₎ ≤ … ≤ p₍ₘ₎, the adjusted value is
/// p̃₍ᵢ₎ = min(1, max_{j ≤ i} (m − j + 1)·p₍ⱼ₎); reject hypothesis i at
/// family-wise level α when p̃ᵢ < α (or ≤ α). Matches statsmodels
/// `multipletests(p, method="holm")[1]`. Ties get equal adjusted values.
///
/// Units: probabilities in [0, 1]. An empty input gives an empty output.
/// Errors: any p-value NaN or outside [0, 1] → `InvalidParameter(PValues)`.
pub fn holm_adjust(p_values: &[f64]) -> Result<Vec<f64>, Insufficient> {
    if p_values.iter().any(|p| !(0.0..=1.0).contains(p)) {
        return Err(Insufficient::invalid(Parameter::PValues));
    }
    let m = p_values.len();
    let mut order: Vec<(usize, f64)> = p_values.iter().copied().enumerate().collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut adjusted = vec![1.0; m];
    let mut running_max = 0.0_f64;
    for (rank, (index, p)) in order.into_iter().enumerate() {
        let factor = m.saturating_sub(rank) as f64;
        running_max = running_max.max((factor * p).min(1.0));
        if let Some(slot) = adjusted.get_mut(index) {
            *slot = running_max;
        }
    }
    Ok(adjusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_adjusts_by_rank_keeps_the_order_and_caps_at_one() {
        assert_eq!(holm_adjust(&[]).unwrap(), Vec::<f64>::new());
        assert_eq!(holm_adjust(&[0.3]).unwrap(), vec![0.3]);
        let a = holm_adjust(&[0.01, 0.04, 0.03, 0.005]).unwrap();
        let want = [0.03, 0.06, 0.06, 0.02];
        for (x, y) in a.iter().zip(want) {
            assert!((x - y).abs() < 1e-15, "{a:?}");
        }
        assert_eq!(holm_adjust(&[0.9, 0.8]).unwrap(), vec![1.0, 1.0]);
    }

    #[test]
    fn a_nan_or_out_of_range_p_value_is_invalid() {
        for bad in [f64::NAN, -0.1, 1.1, f64::INFINITY] {
            assert_eq!(
                holm_adjust(&[0.1, bad]).unwrap_err(),
                Insufficient::invalid(Parameter::PValues)
            );
        }
    }
}
