//! Parsing the lowercase names of enums (listing kinds, periods, thread states) with one error
//! type that says what was given and what would have been accepted.

/// A name that is not one of an enum's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a {what}: use {}", expected.join(", "))]
pub struct UnknownName {
    /// What was being named, e.g. "listing kind".
    pub what: &'static str,
    /// The text given.
    pub given: String,
    /// The names accepted.
    pub expected: Vec<&'static str>,
}

impl UnknownName {
    /// `given` is not among `expected` names of a `what`.
    pub fn new(what: &'static str, given: &str, expected: &[&'static str]) -> Self {
        UnknownName { what, given: given.to_owned(), expected: expected.to_vec() }
    }
}

#[cfg(test)]
mod tests {
    use crate::{ListingKind, ObjectKind, Period, ThreadState};

    #[test]
    fn names_round_trip_and_mistakes_list_the_choices() {
        for kind in ListingKind::ALL {
            assert_eq!(kind.to_string().parse::<ListingKind>(), Ok(kind));
        }
        for kind in ObjectKind::ALL {
            assert_eq!(kind.to_string().parse::<ObjectKind>(), Ok(kind));
        }
        for period in Period::ALL {
            assert_eq!(period.to_string().parse::<Period>(), Ok(period));
        }
        for state in ThreadState::ALL {
            assert_eq!(state.to_string().parse::<ThreadState>(), Ok(state));
        }
        let err = "lottery".parse::<ListingKind>().expect_err("not a kind");
        assert_eq!(
            err.to_string(),
            "`lottery` is not a listing kind: use sell, wanted, service, rental, giveaway, auction, crowdfund, digital"
        );
    }
}
