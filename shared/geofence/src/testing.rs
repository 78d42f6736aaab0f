//! A MaxMind DB writer for tests (feature `testing`): MaxMind publishes readers only, and
//! tests need a database whose ranges they choose.
//!
//! It writes format 2.0 as the specification describes it
//! (<https://maxmind.github.io/MaxMind-DB/>): an IPv4 search tree of 24-bit records, the
//! 16-byte separator, a data section of GeoIP2-City-shaped records (`country.iso_code` and
//! `subdivisions[0].iso_code`), and the metadata map after its marker. The real `maxminddb`
//! reader reads it, so a test exercises the same code path as production.

use std::net::Ipv4Addr;

/// What one network resolves to.
#[derive(Debug, Clone)]
pub struct Place {
    pub country: String,
    pub subdivision: Option<String>,
}

/// Builds an IPv4 City-shaped MaxMind DB in memory.
#[derive(Debug, Default)]
pub struct MmdbWriter {
    networks: Vec<(Ipv4Addr, u8, Place)>,
}

/// A search-tree record: another node, a data record (offset into the data section), or
/// nothing.
#[derive(Debug, Clone, Copy)]
enum Record {
    Empty,
    Node(usize),
    Data(usize),
}

impl MmdbWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `network/prefix` to a country and optional first-level subdivision. Later
    /// networks override earlier ones where they overlap.
    #[must_use]
    pub fn network(
        mut self,
        network: Ipv4Addr,
        prefix: u8,
        country: &str,
        subdivision: Option<&str>,
    ) -> Self {
        self.networks.push((
            network,
            prefix.clamp(1, 32),
            Place {
                country: country.to_owned(),
                subdivision: subdivision.map(str::to_owned),
            },
        ));
        self
    }

    /// The database file's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut data = Vec::new();
        let mut nodes: Vec<[Record; 2]> = vec![[Record::Empty; 2]];
        for (network, prefix, place) in &self.networks {
            let offset = data.len();
            encode_place(&mut data, place);
            let bits = u32::from(*network);
            let mut node = 0;
            for depth in 0..*prefix {
                let side = usize::from(bits >> (31 - depth) & 1 == 1);
                if depth + 1 == *prefix {
                    nodes[node][side] = Record::Data(offset);
                    break;
                }
                node = match nodes[node][side] {
                    Record::Node(next) => next,
                    // A shorter network covers this one: split it, both halves keep its data.
                    existing => {
                        let next = nodes.len();
                        let inherited = match existing {
                            Record::Data(offset) => Record::Data(offset),
                            _ => Record::Empty,
                        };
                        nodes.push([inherited; 2]);
                        nodes[node][side] = Record::Node(next);
                        next
                    }
                };
            }
        }

        let node_count = nodes.len();
        let mut out = Vec::with_capacity(node_count * 6 + 16 + data.len() + 256);
        for node in &nodes {
            for record in node {
                let value = match *record {
                    Record::Empty => node_count,
                    Record::Node(next) => next,
                    Record::Data(offset) => node_count + 16 + offset,
                };
                out.extend_from_slice(&(value as u32).to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
        encode_map_header(&mut out, 9);
        encode_str(&mut out, "binary_format_major_version");
        encode_uint(&mut out, 5, 2);
        encode_str(&mut out, "binary_format_minor_version");
        encode_uint(&mut out, 5, 0);
        encode_str(&mut out, "build_epoch");
        encode_uint(&mut out, 9, 1_700_000_000);
        encode_str(&mut out, "database_type");
        encode_str(&mut out, "GeoIP2-City");
        encode_str(&mut out, "description");
        encode_map_header(&mut out, 1);
        encode_str(&mut out, "en");
        encode_str(&mut out, "Test database written by geofence::testing");
        encode_str(&mut out, "ip_version");
        encode_uint(&mut out, 5, 4);
        encode_str(&mut out, "languages");
        encode_header(&mut out, 11, 1);
        encode_str(&mut out, "en");
        encode_str(&mut out, "node_count");
        encode_uint(&mut out, 6, node_count as u64);
        encode_str(&mut out, "record_size");
        encode_uint(&mut out, 5, 24);
        out
    }
}

fn encode_place(out: &mut Vec<u8>, place: &Place) {
    encode_map_header(out, if place.subdivision.is_some() { 2 } else { 1 });
    encode_str(out, "country");
    encode_map_header(out, 1);
    encode_str(out, "iso_code");
    encode_str(out, &place.country);
    if let Some(subdivision) = &place.subdivision {
        encode_str(out, "subdivisions");
        encode_header(out, 11, 1);
        encode_map_header(out, 1);
        encode_str(out, "iso_code");
        encode_str(out, subdivision);
    }
}

/// A control byte for `kind` with payload `size`: the type in the top three bits (or, for
/// types above 7, zero there and the type minus 7 in the next byte), then the size, with
/// sizes from 29 up spelled in the bytes that follow.
fn encode_header(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (bits, extra) = match size {
        0..29 => (size as u8, Vec::new()),
        29..285 => (29, vec![(size - 29) as u8]),
        _ => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
    };
    if kind <= 7 {
        out.push(kind << 5 | bits);
    } else {
        out.push(bits);
        out.push(kind - 7);
    }
    out.extend_from_slice(&extra);
}

fn encode_map_header(out: &mut Vec<u8>, pairs: usize) {
    encode_header(out, 7, pairs);
}

fn encode_str(out: &mut Vec<u8>, text: &str) {
    encode_header(out, 2, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// An unsigned integer of type `kind` (5 = uint16, 6 = uint32, 9 = uint64) in the fewest
/// big-endian bytes.
fn encode_uint(out: &mut Vec<u8>, kind: u8, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    encode_header(out, kind, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}
