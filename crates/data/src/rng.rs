use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

/// The purpose of a random stream. Each purpose is an independent ChaCha stream of the same
/// master seed, so drawing more from one (a larger test set, say) never shifts another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The training set.
    Train,
    /// The test set.
    Test,
    /// Initial weights of run `index` inside a batch of runs.
    Init {
        /// The run's index within its batch or sweep.
        index: u64,
    },
    /// Mini-batch order of run `index`.
    Batches {
        /// The run's index within its batch or sweep.
        index: u64,
    },
    /// The train/test split of a real data set.
    Split,
    /// The split that sets aside the samples an embedding network is trained on.
    EmbedSplit,
    /// The corruption (salt-and-pepper noise) of a real data set's inputs.
    Corrupt,
    /// Row `index` of a synthetic set (its noise components, and its label under the iid
    /// scheme): every row has its own stream, so rows are drawn in parallel and a row's values
    /// depend only on (seed, set, index).
    Row {
        /// The set the row belongs to.
        set: SampleSet,
        /// The row's index in its set.
        index: u64,
    },
}

/// The synthetic set a draw belongs to. Its balanced labels come from the set's stream
/// ([`SampleSet::stream`]), each row's values from the row's own ([`Stream::Row`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleSet {
    /// The training set.
    Train,
    /// The test set.
    Test,
}

impl SampleSet {
    /// The set's own stream ([`Stream::Train`] or [`Stream::Test`]).
    pub fn stream(self) -> Stream {
        match self {
            SampleSet::Train => Stream::Train,
            SampleSet::Test => Stream::Test,
        }
    }

    /// The stream of row `index`.
    pub fn row(self, index: usize) -> Stream {
        Stream::Row {
            set: self,
            index: index as u64,
        }
    }
}

/// The version of the synthetic draws, recorded in every run's `config.json` (`data.format`):
///
/// - 1 (until 2026-12-01): one sequential stream per set, rows drawn one after another;
/// - 2: one stream per row ([`Stream::Row`]), rows drawn in parallel; the same draws on any
///   number of threads.
///
/// The two give different samples from the same seed (with the same distribution).
pub const DATA_FORMAT: u32 = 2;

impl Stream {
    /// The 64-bit ChaCha stream id of this purpose. Train, test, split, embedding split and
    /// corruption use ids 1, 2, 5, 6 and 7; per-run and per-row streams put the purpose (3, 4;
    /// 8 for a training row, 9 for a test row) in the top byte and the index below it.
    pub fn id(self) -> u64 {
        match self {
            Stream::Train => 1,
            Stream::Test => 2,
            Stream::Init { index } => (3 << 56) | (index & ((1 << 56) - 1)),
            Stream::Batches { index } => (4 << 56) | (index & ((1 << 56) - 1)),
            Stream::Split => 5,
            Stream::EmbedSplit => 6,
            Stream::Corrupt => 7,
            Stream::Row { set, index } => {
                let purpose = match set {
                    SampleSet::Train => 8,
                    SampleSet::Test => 9,
                };
                (purpose << 56) | (index & ((1 << 56) - 1))
            }
        }
    }
}

/// The ChaCha12 generator for `(seed, stream)`: the key is derived from `seed` by
/// `SeedableRng::seed_from_u64` (PCG32 expansion, stable across platforms), and the stream id
/// selects one of 2⁶⁴ independent streams of that key.
pub fn stream_rng(seed: u64, stream: Stream) -> ChaCha12Rng {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    rng.set_stream(stream.id());
    rng
}
