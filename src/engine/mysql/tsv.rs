//! Row encoding for MySQL data objects: TSV exactly as `LOAD DATA` reads it.
//!
//! Fields end with a tab and rows with a newline; there is no enclosure and the escape character
//! is a backslash. NULL is `\N`, the empty string is an empty field. In a text value the bytes
//! `\ TAB LF CR NUL 0x1A` become `\\ \t \n \r \0 \Z`, everything else is copied as it is: the
//! dump session uses `SET NAMES binary`, so these are the stored bytes of any character set, and
//! the restore reads them back with `CHARACTER SET binary`, byte for byte. Binary strings, BLOBs,
//! BIT and spatial values are written as lowercase hex and loaded through `UNHEX(@v)`; JSON (a
//! type of its own only in MySQL) through `CONVERT(@v USING utf8mb4)`. The encoding of every
//! column is recorded in the manifest, so a restore never guesses.

use std::fmt;

/// How one column's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Escaped bytes, loaded as they are.
    Text,
    /// Lowercase hex, loaded with `UNHEX`.
    Hex,
    /// Escaped UTF-8 text, loaded with `CONVERT(... USING utf8mb4)`.
    Json,
}

impl Encoding {
    pub const fn name(self) -> &'static str {
        match self {
            Encoding::Text => "text",
            Encoding::Hex => "hex",
            Encoding::Json => "json",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "text" => Some(Encoding::Text),
            "hex" => Some(Encoding::Hex),
            "json" => Some(Encoding::Json),
            _ => None,
        }
    }

    /// Parse a table's recorded encodings; `Err` carries the first unknown name.
    pub fn parse_all(names: &[String]) -> Result<Vec<Self>, String> {
        names.iter().map(|n| Encoding::parse(n).ok_or_else(|| n.clone())).collect()
    }

    /// The encoding of a column of `data_type` (information_schema's `DATA_TYPE`, lower case).
    pub fn for_type(data_type: &str) -> Self {
        match data_type {
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "bit"
            | "geometry" | "point" | "linestring" | "polygon" | "multipoint"
            | "multilinestring" | "multipolygon" | "geometrycollection" | "geomcollection" => {
                Encoding::Hex
            }
            "json" => Encoding::Json,
            _ => Encoding::Text,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `FIELDS ... LINES ...` clause matching what this module writes.
pub const DIALECT: &str =
    r"FIELDS TERMINATED BY '\t' ENCLOSED BY '' ESCAPED BY '\\' LINES TERMINATED BY '\n'";

/// Every byte's two lowercase hex digits, so a byte is written with one two-byte copy.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [DIGITS[b >> 4], DIGITS[b & 0x0f]];
        b += 1;
    }
    pairs
};

/// Append one field's value (`None` is NULL), without its terminator.
pub fn push_value(out: &mut Vec<u8>, value: Option<&[u8]>, encoding: Encoding) {
    match value {
        None => out.extend_from_slice(b"\\N"),
        Some(bytes) => match encoding {
            Encoding::Text | Encoding::Json => push_escaped(out, bytes),
            Encoding::Hex => push_hex(out, bytes),
        },
    }
}

/// The letter after the backslash for a byte `LOAD DATA` needs escaped, or `None`.
fn escape(b: u8) -> Option<u8> {
    match b {
        b'\\' => Some(b'\\'),
        b'\t' => Some(b't'),
        b'\n' => Some(b'n'),
        b'\r' => Some(b'r'),
        0 => Some(b'0'),
        0x1a => Some(b'Z'),
        _ => None,
    }
}

/// True when one of the eight bytes of `word` may need escaping: a byte below 0x20 (every
/// escaped byte but the backslash is one) or a backslash. Never false for such a word; true for
/// other control bytes too, which the byte-wise check then copies. Most values hold none, so
/// whole words are skipped: the byte-wise loop alone was a tenth of the backup's client CPU.
fn may_need_escape(word: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    // The classic "has a byte below n" test (exact for n <= 0x80), and "has a zero byte" of
    // the word XOR backslashes.
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let x = word ^ BACKSLASHES;
    let backslash = x.wrapping_sub(ONES) & !x & HIGH;
    control | backslash != 0
}

fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len());
    // Bytes before `start` are written; the scan is at `i`.
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !may_need_escape(word_at(bytes, i)) {
            i += 8;
            continue;
        }
        // A word that may hold an escaped byte: byte by byte, up to 8 bytes.
        let end = bytes.len().min(i + 8);
        while i < end {
            if let Some(letter) = escape(bytes[i]) {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(&[b'\\', letter]);
                start = i + 1;
            }
            i += 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// The eight bytes of `bytes` from `at` as one word; past the end, spaces (which need no
/// escaping).
fn word_at(bytes: &[u8], at: usize) -> u64 {
    // A whole word is one load; padding it the same way measured 8% slower (benches/tsv.rs).
    if let Some(word) = bytes.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        return u64::from_ne_bytes(word);
    }
    let mut word = [b' '; 8];
    let rest = bytes.get(at..).unwrap_or_default();
    let n = rest.len().min(8);
    word[..n].copy_from_slice(&rest[..n]);
    u64::from_ne_bytes(word)
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + bytes.len() * 2, 0);
    for (pair, &b) in out[start..].chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
}

/// The column list and `SET` clause of a `LOAD DATA` statement for these columns: text columns
/// load directly, the others through a user variable and their decoding function.
pub fn load_columns(columns: &[String], encodings: &[Encoding]) -> (String, String) {
    let mut list = Vec::with_capacity(columns.len());
    let mut set = Vec::new();
    for (i, column) in columns.iter().enumerate() {
        let name = super::quote_ident(column);
        match encodings.get(i).copied().unwrap_or(Encoding::Text) {
            Encoding::Text => list.push(name),
            Encoding::Hex => {
                list.push(format!("@v{i}"));
                set.push(format!("{name} = UNHEX(@v{i})"));
            }
            Encoding::Json => {
                list.push(format!("@v{i}"));
                set.push(format!("{name} = CONVERT(@v{i} USING utf8mb4)"));
            }
        }
    }
    let set = if set.is_empty() { String::new() } else { format!(" SET {}", set.join(", ")) };
    (format!("({})", list.join(", ")), set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: Option<&[u8]>, encoding: Encoding) -> Vec<u8> {
        let mut out = Vec::new();
        push_value(&mut out, value, encoding);
        out
    }

    #[test]
    fn text_escapes_exactly_the_bytes_load_data_unescapes() {
        let input = b"a\\b\tc\nd\re\0f\x1ag'\"\x08";
        assert_eq!(
            encoded(Some(input), Encoding::Text),
            b"a\\\\b\\tc\\nd\\re\\0f\\Zg'\"\x08".to_vec()
        );
    }

    #[test]
    fn null_empty_and_the_text_backslash_n_differ() {
        assert_eq!(encoded(None, Encoding::Text), b"\\N");
        assert_eq!(encoded(Some(b""), Encoding::Text), b"");
        assert_eq!(encoded(Some(b"\\N"), Encoding::Text), b"\\\\N");
        assert_eq!(encoded(Some(b"NULL"), Encoding::Text), b"NULL");
        assert_eq!(encoded(None, Encoding::Hex), b"\\N");
    }

    #[test]
    fn multibyte_text_is_copied_byte_for_byte() {
        // A GBK/SJIS trailing byte can be 0x5C: escaping byte-wise on both sides keeps it.
        let sjis = [0x95, 0x5c, 0x8e, 0xa6];
        assert_eq!(encoded(Some(&sjis), Encoding::Text), vec![0x95, b'\\', 0x5c, 0x8e, 0xa6]);
        let emoji = "né 🎉".as_bytes();
        assert_eq!(encoded(Some(emoji), Encoding::Text), emoji.to_vec());
    }

    /// The escaping as `LOAD DATA` defines it, one byte at a time: what the word-wise scan
    /// must reproduce.
    fn escaped_byte_by_byte(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            match escape(b) {
                Some(letter) => out.extend_from_slice(&[b'\\', letter]),
                None => out.push(b),
            }
        }
        out
    }

    #[test]
    fn the_word_wise_scan_escapes_every_byte_at_every_position() {
        // Escaped bytes, and neighbours that must not be taken for them: other control bytes,
        // 0x20, the bytes beside the backslash, and high bytes (0xdc is a backslash | 0x80).
        let probes =
            [b'\\', b'\t', b'\n', b'\r', 0, 0x1a, 0x01, 0x1f, 0x20, 0x5b, 0x5d, 0x80, 0xdc, 0xff];
        for len in 0..=25 {
            for at in 0..len {
                for probe in probes {
                    for filler in [b'a', 0xff, b'\\'] {
                        let mut value = vec![filler; len];
                        value[at] = probe;
                        let out = encoded(Some(&value), Encoding::Text);
                        assert_eq!(out, escaped_byte_by_byte(&value), "{value:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn escapes_around_skipped_words_keep_every_byte() {
        // Two escaped bytes anywhere in values up to 25 bytes: in one word, in neighbouring
        // words, and with clean words skipped between them (what is written before a skipped
        // word must not be written again after it).
        for len in 2..=25 {
            for first in 0..len {
                for second in first + 1..len {
                    let mut value: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                    value[first] = b'\t';
                    value[second] = b'\\';
                    let out = encoded(Some(&value), Encoding::Text);
                    assert_eq!(out, escaped_byte_by_byte(&value), "{value:?}");
                }
            }
        }
    }

    #[test]
    fn hex_covers_every_byte_value() {
        let all: Vec<u8> = (0..=255).collect();
        let out = encoded(Some(&all), Encoding::Hex);
        assert_eq!(out.len(), 512);
        assert!(out.iter().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(&out[..6], b"000102");
        assert_eq!(&out[out.len() - 4..], b"feff");
    }

    #[test]
    fn every_escaped_field_is_free_of_terminators() {
        let all: Vec<u8> = (0..=255).collect();
        let out = encoded(Some(&all), Encoding::Text);
        assert!(!out.contains(&b'\t') && !out.contains(&b'\n'));
    }

    #[test]
    fn encodings_by_type_and_name() {
        assert_eq!(Encoding::for_type("varbinary"), Encoding::Hex);
        assert_eq!(Encoding::for_type("bit"), Encoding::Hex);
        assert_eq!(Encoding::for_type("point"), Encoding::Hex);
        assert_eq!(Encoding::for_type("json"), Encoding::Json);
        assert_eq!(Encoding::for_type("varchar"), Encoding::Text);
        assert_eq!(Encoding::for_type("enum"), Encoding::Text);
        for e in [Encoding::Text, Encoding::Hex, Encoding::Json] {
            assert_eq!(Encoding::parse(e.name()), Some(e));
        }
        assert_eq!(Encoding::parse("base64"), None);
    }

    #[test]
    fn load_columns_route_encoded_columns_through_variables() {
        let columns = vec!["id".to_string(), "pic`x".to_string(), "doc".to_string()];
        let (list, set) = load_columns(&columns, &[Encoding::Text, Encoding::Hex, Encoding::Json]);
        assert_eq!(list, "(`id`, @v1, @v2)");
        assert_eq!(set, " SET `pic``x` = UNHEX(@v1), `doc` = CONVERT(@v2 USING utf8mb4)");
        let (list, set) = load_columns(&columns[..1], &[Encoding::Text]);
        assert_eq!((list.as_str(), set.as_str()), ("(`id`)", ""));
    }
}
