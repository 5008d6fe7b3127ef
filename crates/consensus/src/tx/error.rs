//! Why a transaction was rejected.

use std::fmt;

use crate::HardFork;

/// A transaction's hash, shown as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxHash(pub [u8; 32]);

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxHash({self})")
    }
}

/// Which transaction an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxId {
    /// A transaction that parsed, by its hash.
    Hash(TxHash),
    /// Bytes that did not parse as a transaction: their Keccak-256 (not a transaction hash),
    /// so a log line can still tell two bad blobs apart.
    Unparsed {
        /// Keccak-256 of the bytes.
        blob_hash: TxHash,
        /// Their length.
        len: usize,
    },
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hash(hash) => write!(f, "{hash}"),
            Self::Unparsed { blob_hash, len } => {
                write!(f, "(unparsed, {len} bytes, keccak {blob_hash})")
            }
        }
    }
}

/// A rejected transaction: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transaction {tx} rejected: {reason}")]
pub struct TxError {
    /// The transaction.
    pub tx: TxId,
    /// What was wrong with it.
    pub reason: Reason,
}

impl TxError {
    /// An error about the transaction with this hash.
    pub fn new(hash: [u8; 32], reason: Reason) -> Self {
        Self {
            tx: TxId::Hash(TxHash(hash)),
            reason,
        }
    }

    /// The transaction's hash, if it parsed.
    pub fn hash(&self) -> Option<[u8; 32]> {
        match self.tx {
            TxId::Hash(TxHash(hash)) => Some(hash),
            TxId::Unparsed { .. } => None,
        }
    }
}

/// The kind of range proof or signature that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProofKind {
    /// A version-1 (pre-RingCT) ring signature.
    RingSignature,
    /// An MLSAG over all inputs (`RCTTypeFull`).
    AggregateMlsag,
    /// An MLSAG over one input.
    Mlsag,
    /// A CLSAG over one input.
    Clsag,
    /// A Borromean range proof (one per output).
    Borromean,
    /// An aggregate Bulletproof.
    Bulletproof,
    /// An aggregate Bulletproof+.
    BulletproofPlus,
}

impl fmt::Display for ProofKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RingSignature => "ring signature",
            Self::AggregateMlsag => "aggregate MLSAG",
            Self::Mlsag => "MLSAG",
            Self::Clsag => "CLSAG",
            Self::Borromean => "Borromean range proof",
            Self::Bulletproof => "Bulletproof",
            Self::BulletproofPlus => "Bulletproof+",
        })
    }
}

/// What was wrong with a transaction.
///
/// `input` and `output` fields are indices into the transaction's inputs and outputs;
/// `member` is a position in an input's ring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    // --- decoding ---
    /// The blob is larger than the decoder accepts.
    #[error("{size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The blob's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a transaction.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The bytes decode, but bytes are left over after the transaction.
    #[error("{0} trailing bytes after the transaction")]
    TrailingBytes(usize),
    /// The bytes decode, but are not the canonical encoding of what they decode to
    /// (the transaction's hash would not be the hash of these bytes).
    #[error("not canonically encoded")]
    NonCanonical,

    // --- structure ---
    /// The version is not accepted at this hard fork.
    #[error("version {version} is not allowed at hard fork {}", hard_fork.as_u8())]
    VersionNotAllowed {
        /// The transaction's version.
        version: u8,
        /// The hard fork.
        hard_fork: HardFork,
    },
    /// A non-coinbase transaction has a coinbase (`gen`) input.
    #[error("input {input} is a coinbase input")]
    CoinbaseInput {
        /// The input.
        input: usize,
    },
    /// A version-2 transaction without RingCT data (`RCTTypeNull`), which only a coinbase may be.
    #[error("no RingCT proofs (RCTTypeNull) in a non-coinbase transaction")]
    MissingRctProofs,
    /// The RingCT type is not allowed at this hard fork.
    #[error("RingCT type {rct_type} is not allowed at hard fork {}", hard_fork.as_u8())]
    RctTypeNotAllowed {
        /// The RingCT type (1 = full, 2 = simple, 3 = Bulletproof, 4 = Bulletproof2,
        /// 5 = CLSAG, 6 = Bulletproof+).
        rct_type: u8,
        /// The hard fork.
        hard_fork: HardFork,
    },
    /// An output key is not a point on the curve.
    #[error("output {output} has an invalid key")]
    InvalidOutputKey {
        /// The output.
        output: usize,
    },
    /// A version-1 output with amount zero.
    #[error("output {output} has amount zero")]
    ZeroAmountOutput {
        /// The output.
        output: usize,
    },
    /// A version-1 output whose amount is not a single digit times a power of ten (from hard
    /// fork 2).
    #[error("output {output} amount {amount} is not a decomposed amount")]
    NotDecomposedAmount {
        /// The output.
        output: usize,
        /// Its amount.
        amount: u64,
    },
    /// An output's type (with or without view tag) is not allowed at this hard fork.
    #[error("output {output} has {} view tag, not allowed at hard fork {}", if *tagged { "a" } else { "no" }, hard_fork.as_u8())]
    OutputTypeNotAllowed {
        /// The output.
        output: usize,
        /// Whether it carries a view tag.
        tagged: bool,
        /// The hard fork.
        hard_fork: HardFork,
    },
    /// Outputs with and without view tags in one transaction (hard fork 15).
    #[error("output {output} does not have the type of output 0")]
    MixedOutputTypes {
        /// The first output whose type differs.
        output: usize,
    },
    /// Too few outputs (RingCT transactions need two from hard fork 12).
    #[error("{outputs} outputs, fewer than {min}")]
    TooFewOutputs {
        /// The number of outputs.
        outputs: usize,
        /// The minimum.
        min: usize,
    },
    /// More outputs than one Bulletproof(+) covers.
    #[error("{outputs} outputs, more than {max}")]
    TooManyOutputs {
        /// The number of outputs.
        outputs: usize,
        /// The maximum.
        max: usize,
    },
    /// The sum of the input or output amounts overflows 64 bits.
    #[error("the {} amounts overflow", if *inputs { "input" } else { "output" })]
    AmountOverflow {
        /// True for the inputs, false for the outputs.
        inputs: bool,
    },
    /// A version-1 transaction whose inputs do not exceed its outputs (it pays no fee).
    #[error("inputs {inputs} do not exceed outputs {outputs}")]
    InputsNotAboveOutputs {
        /// Sum of the inputs.
        inputs: u64,
        /// Sum of the outputs.
        outputs: u64,
    },
    /// A key image is not a valid point of the prime-order subgroup (or is the identity).
    #[error("input {input} has an invalid key image")]
    InvalidKeyImage {
        /// The input.
        input: usize,
    },
    /// The same key image twice in one transaction.
    #[error("input {input} repeats the key image of input {first}")]
    DuplicateKeyImage {
        /// The second input using it.
        input: usize,
        /// The first.
        first: usize,
    },
    /// Inputs not sorted by key image, descending (from hard fork 7).
    #[error("input {input} is out of key-image order")]
    UnsortedInputs {
        /// The first input out of order.
        input: usize,
    },
    /// An input without ring members.
    #[error("input {input} has an empty ring")]
    EmptyRing {
        /// The input.
        input: usize,
    },
    /// A relative key offset of zero after the first: the same ring member twice (from hard
    /// fork 6).
    #[error("input {input} repeats a ring member at position {member}")]
    DuplicateRingMember {
        /// The input.
        input: usize,
        /// The position of the repeated member.
        member: usize,
    },
    /// Ring sizes differ between inputs where they must not (from hard fork 12, and always
    /// between RingCT signatures, which are encoded with the first input's size).
    #[error("input {input} has ring size {size}, input 0 has {expected}")]
    RingSizesDiffer {
        /// The input.
        input: usize,
        /// Its ring size.
        size: usize,
        /// The first input's ring size.
        expected: usize,
    },
    /// The ring size is not allowed at this hard fork.
    #[error("ring size {size} is not allowed at hard fork {}", hard_fork.as_u8())]
    RingSizeNotAllowed {
        /// The smallest ring size in the transaction.
        size: usize,
        /// The hard fork.
        hard_fork: HardFork,
    },
    /// The transaction weighs more than allowed.
    #[error("weight {weight} exceeds the limit {limit}")]
    TooHeavy {
        /// Its weight.
        weight: u64,
        /// The limit.
        limit: u64,
    },
    /// The extra field is larger than relayed (pool rule).
    #[error("extra of {size} bytes exceeds {limit}")]
    ExtraTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The fee is below what the pool accepts.
    #[error("fee {fee} is below the minimum {minimum}")]
    FeeTooLow {
        /// The fee paid.
        fee: u64,
        /// The minimum.
        minimum: u64,
    },
    /// A commitment or pseudo-output that is not a point.
    #[error("{what} {index} is not a valid point")]
    InvalidCommitment {
        /// `"output commitment"` or `"pseudo-output"`.
        what: &'static str,
        /// Its index.
        index: usize,
    },
    /// The pseudo-outputs do not sum to the output commitments plus the fee.
    #[error("pseudo-outputs do not balance the output commitments and fee")]
    Unbalanced,
    /// A range proof does not verify.
    #[error("{kind} does not verify{}", match output { Some(o) => format!(" (output {o})"), None => String::new() })]
    InvalidRangeProof {
        /// The proof's kind.
        kind: ProofKind,
        /// For Borromean proofs, the output.
        output: Option<usize>,
    },

    // --- chain context ---
    /// The ring data given does not have the shape the transaction asked for.
    #[error("ring data for input {input}: {problem}")]
    RingDataMismatch {
        /// The input (or the number of inputs, if whole rings are missing).
        input: usize,
        /// What does not fit.
        problem: &'static str,
    },
    /// A ring member does not exist on the chain.
    #[error("input {input} ring member {member} (output {index}) does not exist")]
    RingMemberMissing {
        /// The input.
        input: usize,
        /// The position in the ring.
        member: usize,
        /// The output's index in its amount's pool.
        index: u64,
    },
    /// A ring member's own unlock time has not passed.
    #[error("input {input} ring member {member} is locked until {unlock_time}")]
    RingMemberLocked {
        /// The input.
        input: usize,
        /// The position in the ring.
        member: usize,
        /// The output's unlock time (a height below 500,000,000, else a Unix time).
        unlock_time: u64,
    },
    /// A ring member is younger than the minimum age (or a coinbase output younger than 60
    /// blocks).
    #[error("input {input} ring member {member} from height {height} is too young")]
    RingMemberTooYoung {
        /// The input.
        input: usize,
        /// The position in the ring.
        member: usize,
        /// The height of the block that created it.
        height: u64,
    },
    /// The key image is already spent on the chain.
    #[error("input {input} key image is already spent")]
    KeyImageSpent {
        /// The input.
        input: usize,
    },
    /// The key image is spent by another transaction of the same block (or batch).
    #[error("input {input} key image is also spent by transaction {other}")]
    KeyImageSpentInBatch {
        /// The input.
        input: usize,
        /// The other transaction.
        other: TxHash,
    },
    /// A signature does not verify.
    #[error("{kind} of input {input} does not verify")]
    InvalidSignature {
        /// The signature's kind.
        kind: ProofKind,
        /// The input (0 for an aggregate MLSAG, which covers all).
        input: usize,
    },
    /// The cryptography library panicked on this transaction (caught; a bug to report).
    #[error("the cryptography library panicked while checking the {0}")]
    LibraryPanic(&'static str),
}
