//! An agent's free resources, with a second handle to them made ahead of the next offer.

use std::ops::Deref;

use mesos_core::resources::Resources;

/// An agent's free resources, plus (usually) a second handle to the same shared list.
///
/// When a whole agent is offered, the allocator's books and the offer handed to the master
/// each need a handle to the bag. Making the second one in the allocation cycle means an
/// atomic reference-count update on a list the cycle has not otherwise read: a cache miss,
/// and a locked instruction that waits for every store before it, once per offer. The spare
/// is made instead when the bag last changed, while its list was in cache, so offering the
/// whole bag only moves two handles.
///
/// Invariant: `spare` is either empty or a handle to exactly `bag`'s list. The bag can only be
/// changed through [`FreeBag::edit`], which drops the spare first (a shared list would
/// otherwise be copied on write, leaving the spare with the old contents).
#[derive(Debug, Default)]
pub(crate) struct FreeBag {
    bag: Resources,
    spare: Resources,
}

impl FreeBag {
    pub(crate) fn new(bag: Resources) -> FreeBag {
        let spare = bag.clone();
        FreeBag { bag, spare }
    }

    /// The bag, to change; the spare is dropped until [`FreeBag::make_spare`].
    pub(crate) fn edit(&mut self) -> &mut Resources {
        self.spare = Resources::new();
        &mut self.bag
    }

    /// Makes the spare handle again, after the bag changed.
    pub(crate) fn make_spare(&mut self) {
        self.spare = self.bag.clone();
    }

    /// Takes the whole bag out, leaving nothing: the bag, and a second handle to it when one
    /// was made ahead (`None` for an empty bag or after an unfinished edit).
    pub(crate) fn take_whole(&mut self) -> (Resources, Option<Resources>) {
        let bag = std::mem::take(&mut self.bag);
        let spare = std::mem::take(&mut self.spare);
        let spare = (!spare.is_empty()).then_some(spare);
        (bag, spare)
    }
}

impl Deref for FreeBag {
    type Target = Resources;

    fn deref(&self) -> &Resources {
        &self.bag
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_core::resources::parse_flag_text;

    fn bag(text: &str) -> Resources {
        parse_flag_text(text, "*").expect("valid resources")
    }

    #[test]
    fn the_spare_taken_with_the_bag_has_the_bag_contents_after_edits() {
        let mut free = FreeBag::new(bag("cpus:4;mem:1024"));
        *free.edit() -= &bag("cpus:1");
        // An edit without a new spare: no second handle is handed out.
        assert_eq!(free.take_whole().1, None);

        let mut free = FreeBag::new(bag("cpus:4;mem:1024"));
        *free.edit() -= &bag("cpus:1");
        free.make_spare();
        let (whole, spare) = free.take_whole();
        assert_eq!(whole, bag("cpus:3;mem:1024"));
        assert_eq!(spare, Some(bag("cpus:3;mem:1024")));
        assert!(free.is_empty());
        assert_eq!(free.take_whole(), (Resources::new(), None));
    }
}
