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
}

impl Stream {
    /// The 64-bit ChaCha stream id of this purpose. Train, test, split, embedding split and corruption use ids 1, 2, 5, 6 and 7; per-run
    /// streams put the purpose in the top byte and the run index below it.
    pub fn id(self) -> u64 {
        match self {
            Stream::Train => 1,
            Stream::Test => 2,
            Stream::Init { index } => (3 << 56) | (index & ((1 << 56) - 1)),
            Stream::Batches { index } => (4 << 56) | (index & ((1 << 56) - 1)),
            Stream::Split => 5,
            Stream::EmbedSplit => 6,
            Stream::Corrupt => 7,
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
