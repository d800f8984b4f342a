//! Sharing a site current limit between loadpoints.
//!
//! The rule: the limit (A per phase, for all loadpoints together) is shared fairly. Each
//! loadpoint that wants current gets at most an equal share; what one wants less than its share
//! goes to the others ("water filling"). A box cannot charge below 6 A, so when an equal share
//! would be below 6 A, the loadpoint listed last in the config file gets nothing until the
//! others leave it at least 6 A: earlier loadpoints have priority. Every loadpoint is counted
//! on every phase, which is safe for 1-phase cars too.

use sunfill_core::Deciamps;

/// What each loadpoint may have, given what each wants and the limit (`None`: no limit).
pub fn share(limit: Option<Deciamps>, wants: &[Deciamps]) -> Vec<Deciamps> {
    let Some(limit) = limit else {
        return wants.to_vec();
    };
    // Loadpoints that want a current, in configuration order; drop the last until it fits.
    let mut active: Vec<usize> = (0..wants.len()).filter(|&i| !wants[i].is_zero()).collect();
    loop {
        let got = fill(limit, wants, &active);
        match active
            .iter()
            .rev()
            .find(|&&i| got[i] < Deciamps::MIN_CHARGING && !wants[i].is_zero())
        {
            None => return got,
            Some(_) => {
                active.pop();
            }
        }
    }
}

/// Water filling among `active`: ascending wants, each gets min(want, equal share of the rest).
fn fill(limit: Deciamps, wants: &[Deciamps], active: &[usize]) -> Vec<Deciamps> {
    let mut got = vec![Deciamps::ZERO; wants.len()];
    let mut order = active.to_vec();
    order.sort_by_key(|&i| wants[i]);
    let mut left = limit.0;
    let mut n = order.len() as u16;
    for i in order {
        let fair = left / n.max(1);
        let g = wants[i].0.min(fair);
        got[i] = Deciamps(g);
        left -= g;
        n -= 1;
    }
    got
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(v: &[u16]) -> Vec<Deciamps> {
        v.iter().map(|&x| Deciamps(x)).collect()
    }

    #[test]
    fn no_limit_gives_what_is_wanted() {
        assert_eq!(share(None, &a(&[160, 60])), a(&[160, 60]));
    }

    #[test]
    fn equal_shares_when_both_want_more() {
        assert_eq!(share(Some(Deciamps(200)), &a(&[160, 160])), a(&[100, 100]));
    }

    #[test]
    fn what_one_does_not_need_goes_to_the_other() {
        assert_eq!(share(Some(Deciamps(200)), &a(&[160, 60])), a(&[140, 60]));
        assert_eq!(share(Some(Deciamps(200)), &a(&[0, 160])), a(&[0, 160]));
    }

    #[test]
    fn below_six_amps_the_last_loadpoint_waits() {
        assert_eq!(share(Some(Deciamps(100)), &a(&[160, 160])), a(&[100, 0]));
        assert_eq!(
            share(Some(Deciamps(130)), &a(&[160, 160, 160])),
            a(&[65, 65, 0])
        );
        assert_eq!(share(Some(Deciamps(50)), &a(&[160])), a(&[0]));
    }

    #[test]
    fn the_sum_never_exceeds_the_limit() {
        for limit in (0..=400).step_by(7) {
            for w in [[60, 160, 100], [160, 160, 160], [0, 75, 130]] {
                let got = share(Some(Deciamps(limit)), &a(&w));
                let sum: u16 = got.iter().map(|d| d.0).sum();
                assert!(sum <= limit, "{limit} {w:?} {got:?}");
                for (g, w) in got.iter().zip(w) {
                    assert!(g.0 <= w && (g.0 == 0 || g.0 >= 60), "{limit} {got:?}");
                }
            }
        }
    }
}
