//! Which frameworks may hold a decline filter on an agent, in one word.
//!
//! The agent keeps a bit per framework index modulo 64, set for every framework with a filter
//! there (see [`crate::agent_filters`]): a clear bit proves the framework has none, and the
//! cycle does not scan the agent's filters for it. The bits are recomputed whenever filters go.

/// A superset of the frameworks with a decline filter on one agent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FilterMask(u64);

impl FilterMask {
    fn bit(framework: usize) -> u64 {
        1 << (framework % 64)
    }

    /// Notes that `framework` filed a filter on the agent.
    pub(crate) fn add(&mut self, framework: usize) {
        self.0 |= Self::bit(framework);
    }

    /// False only when `framework` holds no filter on the agent.
    pub(crate) fn may_hold(self, framework: usize) -> bool {
        self.0 & Self::bit(framework) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mask_answers_for_frameworks_added_and_for_those_sharing_their_bit() {
        let mut mask = FilterMask::default();
        assert!(
            !(0..200).any(|f| mask.may_hold(f)),
            "an empty mask holds none"
        );
        mask.add(3);
        mask.add(70);
        assert!(mask.may_hold(3) && mask.may_hold(70));
        // 67 shares 3's bit: the mask is a superset, never an exact set.
        assert!(mask.may_hold(67));
        assert!(!mask.may_hold(4) && !mask.may_hold(71) && !mask.may_hold(0));
    }
}
