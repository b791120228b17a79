//! Which sequence numbers of one publisher were seen: a growable bit set, so that loss and duplication are
//! counted exactly, whatever the order of arrival.

/// A set of sequence numbers with the count of repeated insertions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqSet {
    words: Vec<u64>,
    distinct: u64,
    duplicates: u64,
}

impl SeqSet {
    /// The set `0..n`.
    pub fn range(n: u64) -> SeqSet {
        let full = usize::try_from(n / 64).unwrap_or(usize::MAX);
        let mut words = vec![u64::MAX; full];
        if !n.is_multiple_of(64) {
            words.push((1u64 << (n % 64)) - 1);
        }
        SeqSet { words, distinct: n, duplicates: 0 }
    }

    /// Records `seq`; returns whether it was new.
    pub fn insert(&mut self, seq: u64) -> bool {
        let (word, bit) = Self::slot(seq);
        if word >= self.words.len() {
            // Sequences grow by one: doubling keeps reallocation rare.
            let len = (word + 1).max(self.words.len() * 2).max(16);
            self.words.resize(len, 0);
        }
        let w = &mut self.words[word];
        if *w & bit != 0 {
            self.duplicates += 1;
            false
        } else {
            *w |= bit;
            self.distinct += 1;
            true
        }
    }

    pub fn contains(&self, seq: u64) -> bool {
        let (word, bit) = Self::slot(seq);
        self.words.get(word).is_some_and(|w| w & bit != 0)
    }

    /// Distinct sequence numbers recorded.
    pub fn len(&self) -> u64 {
        self.distinct
    }

    pub fn is_empty(&self) -> bool {
        self.distinct == 0
    }

    /// Insertions of a sequence number already recorded.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Adds `other` to this set; sequence numbers present in both count as duplicates.
    pub fn merge(&mut self, other: &SeqSet) {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        let mut overlap = 0u64;
        for (mine, theirs) in self.words.iter_mut().zip(&other.words) {
            overlap += u64::from((*mine & *theirs).count_ones());
            *mine |= *theirs;
        }
        self.distinct += other.distinct - overlap;
        self.duplicates += other.duplicates + overlap;
    }

    /// How many members of `expected` this set lacks.
    pub fn missing_from(&self, expected: &SeqSet) -> u64 {
        expected
            .words
            .iter()
            .enumerate()
            .map(|(i, want)| u64::from((want & !self.words.get(i).copied().unwrap_or(0)).count_ones()))
            .sum()
    }

    /// How many members of this set are not in `known`.
    pub fn outside(&self, known: &SeqSet) -> u64 {
        known.missing_from(self)
    }

    fn slot(seq: u64) -> (usize, u64) {
        (usize::try_from(seq / 64).unwrap_or(usize::MAX), 1u64 << (seq % 64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_sequence_counts_as_duplicate_not_as_new() {
        let mut s = SeqSet::default();
        assert!(s.insert(5));
        assert!(!s.insert(5));
        assert!(s.insert(700));
        assert_eq!((s.len(), s.duplicates()), (2, 1));
        assert!(s.contains(700) && !s.contains(6));
    }

    #[test]
    fn range_holds_exactly_its_members() {
        let r = SeqSet::range(130);
        assert_eq!(r.len(), 130);
        assert!(r.contains(0) && r.contains(129) && !r.contains(130));
        assert!(SeqSet::range(0).is_empty());
    }

    #[test]
    fn merge_counts_overlap_as_duplicates() {
        let mut a = SeqSet::default();
        let mut b = SeqSet::default();
        for i in 0..100 {
            a.insert(i);
        }
        for i in 90..300 {
            b.insert(i);
        }
        a.merge(&b);
        assert_eq!((a.len(), a.duplicates()), (300, 10));
    }

    #[test]
    fn missing_counts_expected_members_never_seen() {
        let mut expected = SeqSet::default();
        let mut seen = SeqSet::default();
        for i in 0..1000 {
            expected.insert(i);
            if i % 10 != 3 {
                seen.insert(i);
            }
        }
        seen.insert(5000);
        assert_eq!(seen.missing_from(&expected), 100);
        assert_eq!(seen.outside(&expected), 1);
    }
}
