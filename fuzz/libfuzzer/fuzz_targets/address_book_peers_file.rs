#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| umbra_fuzz::address_book_peers_file(data));
