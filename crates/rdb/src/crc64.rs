//! CRC-64/Jones, the checksum of DUMP payloads and RDB files.
//!
//! Parameters: polynomial 0xad93d23594c935a9 (reflected 0x95ac9329ac4bc9b5), init 0,
//! reflected input and output, no final XOR; check value of `123456789` =
//! 0xe9c6d914c4b8d9ca. Computed with `crc-fast` (SIMD carry-less multiplication); the
//! slice-by-8 table version below is the one Redis uses, kept as an independent
//! cross-check and as the benchmark baseline.

use std::sync::OnceLock;

/// CRC-64/Jones of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Redis, data)
}

/// Incremental CRC-64/Jones.
pub struct Crc64(crc_fast::Digest);

impl Default for Crc64 {
    fn default() -> Self {
        Crc64(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Redis))
    }
}

impl Crc64 {
    /// Feed bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The CRC of everything fed so far.
    pub fn finish(&self) -> u64 {
        self.0.finalize()
    }
}

const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

fn tables() -> &'static [[u64; 256]; 8] {
    static T: OnceLock<Box<[[u64; 256]; 8]>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Box::new([[0u64; 256]; 8]);
        for i in 0..256 {
            let mut c = i as u64;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ POLY_REFLECTED
                } else {
                    c >> 1
                };
            }
            t[0][i] = c;
        }
        for i in 0..256 {
            for k in 1..8 {
                let prev = t[k - 1][i];
                t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            }
        }
        t
    })
}

/// CRC-64/Jones by table lookup, eight bytes at a time (how Redis computes it).
pub fn crc64_slice_by_8(data: &[u8]) -> u64 {
    let t = tables();
    let mut crc = 0u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = crc ^ u64::from_le_bytes(w);
        crc = t[7][(x & 0xff) as usize]
            ^ t[6][((x >> 8) & 0xff) as usize]
            ^ t[5][((x >> 16) & 0xff) as usize]
            ^ t[4][((x >> 24) & 0xff) as usize]
            ^ t[3][((x >> 32) & 0xff) as usize]
            ^ t[2][((x >> 40) & 0xff) as usize]
            ^ t[1][((x >> 48) & 0xff) as usize]
            ^ t[0][(x >> 56) as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(crc64_slice_by_8(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        let data: Vec<u8> = (0..100_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
            .collect();
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 100_000] {
            assert_eq!(crc64(&data[..n]), crc64_slice_by_8(&data[..n]), "len {n}");
        }
        let mut inc = Crc64::default();
        inc.update(&data[..333]);
        inc.update(&data[333..1000]);
        assert_eq!(inc.finish(), crc64(&data[..1000]));
    }
}
