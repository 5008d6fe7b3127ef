//! Hard limits on what a decoder accepts.

/// Limits enforced while decoding untrusted bytes.
///
/// Every counter is checked *before* memory is reserved for what it counts, so a hostile
/// input cannot make the decoder allocate more than the limits (and the input itself) allow.
///
/// The defaults ([`Limits::default`], the same as [`Limits::LEVIN`]) are never looser than
/// what monerod 0.18 accepts from a P2P peer:
///
/// | limit | default | monerod |
/// |---|---|---|
/// | `max_depth` | 30 nested objects/arrays, root included | a recursion counter of 100 calls, about 31 nested objects |
/// | `max_objects` | 8,192 | `default_levin_limits.objects` |
/// | `max_fields` | 16,384 | `default_levin_limits.fields` |
/// | `max_strings` | 16,384 | `default_levin_limits.strings` |
/// | `max_string_len` | 100,000,000 bytes | 2,000,000,000 (but a levin packet is at most 100 MB) |
/// | `max_array_len` | 100,000,000 elements | none besides the remaining-bytes check below |
///
/// Independently of these numbers, an array's declared length must fit in the bytes that
/// remain (at least one byte per object or array element, two per string, the fixed size per
/// scalar), exactly as monerod checks. One consequence, shared with monerod: an array of
/// *empty* strings at the very end of a document is refused, since its strings take one
/// byte each but two are required. Neither monerod nor Umbra ever sends one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of objects and arrays, counting the root object as 1.
    pub max_depth: usize,
    /// Total objects in one input, not counting the root (each element of an array of
    /// objects counts).
    pub max_objects: usize,
    /// Total fields over all objects of one input, root included.
    pub max_fields: usize,
    /// Total strings in one input (each element of an array of strings counts).
    pub max_strings: usize,
    /// Longest single string, in bytes.
    pub max_string_len: usize,
    /// Longest single array, in elements.
    pub max_array_len: usize,
}

impl Limits {
    /// monerod's limits for levin (P2P) messages (`default_levin_limits`).
    pub const LEVIN: Self = Self {
        max_depth: 30,
        max_objects: 8_192,
        max_fields: 16_384,
        max_strings: 16_384,
        max_string_len: 100_000_000,
        max_array_len: 100_000_000,
    };

    /// No limits beyond the size of the input itself: only for trusted input.
    ///
    /// The nesting depth stays bounded (at 100) even here, so that decoding can never
    /// overflow the stack.
    pub const TRUSTED: Self = Self {
        max_depth: 100,
        max_objects: usize::MAX,
        max_fields: usize::MAX,
        max_strings: usize::MAX,
        max_string_len: usize::MAX,
        max_array_len: usize::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::LEVIN
    }
}
