//! Derive macro for umbra-epee: typed epee objects with monerod's field order.
