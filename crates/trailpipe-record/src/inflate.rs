//! Decompression that takes an object's bytes in pieces, as they arrive from the network, so a
//! fetch never holds the compressed body and its JSON at once and the inflate overlaps the
//! transfer. Gzip (any number of members) or plain JSON, told apart by the first bytes.

use flate2::{Decompress, FlushDecompress, Status};

use crate::decode::DecodeError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

enum State {
    /// Fewer than two bytes seen: gzip or not is still open.
    Start,
    /// Inside a gzip member.
    Member(Box<Decompress>),
    /// Between gzip members (or at the end).
    BetweenMembers,
    /// Plain JSON, copied as it comes.
    Plain,
    /// Failed: the error is returned by [`Inflater::finish`]; later input is ignored.
    Failed(DecodeError),
}

/// Push decompressor with a cap on the decompressed size. Feed it with [`push`](Self::push),
/// then take the JSON with [`finish`](Self::finish). The first error sticks: `push` returns
/// `false` from then on, so a reader can stop early.
pub struct Inflater {
    state: State,
    out: Vec<u8>,
    cap: u64,
    /// Bytes held back while fewer than two have arrived (magic check).
    head: Vec<u8>,
}

fn gzip_error(msg: impl Into<String>) -> DecodeError {
    DecodeError::Gzip(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        msg.into(),
    ))
}

impl Inflater {
    /// A decompressor writing into `out` (cleared; its capacity is reused), accepting at most
    /// `cap` decompressed bytes.
    pub fn new(mut out: Vec<u8>, cap: u64) -> Inflater {
        out.clear();
        Inflater {
            state: State::Start,
            out,
            cap,
            head: Vec::new(),
        }
    }

    /// Takes the next piece of the object. Returns `false` once the object is known to be bad.
    pub fn push(&mut self, chunk: &[u8]) -> bool {
        if let Err(e) = self.push_inner(chunk) {
            self.state = State::Failed(e);
        }
        !matches!(self.state, State::Failed(_))
    }

    fn push_inner(&mut self, mut input: &[u8]) -> Result<(), DecodeError> {
        if let State::Start = self.state {
            let need = 2 - self.head.len();
            if input.len() < need {
                self.head.extend_from_slice(input);
                return Ok(());
            }
            let mut first = std::mem::take(&mut self.head);
            first.extend_from_slice(&input[..need]);
            input = &input[need..];
            self.state = if first == GZIP_MAGIC {
                State::BetweenMembers
            } else {
                State::Plain
            };
            self.feed(&first)?;
        }
        self.feed(input)
    }

    fn feed(&mut self, mut input: &[u8]) -> Result<(), DecodeError> {
        while !input.is_empty() {
            match &mut self.state {
                State::Start | State::Failed(_) => return Ok(()),
                State::Plain => {
                    if (self.out.len() + input.len()) as u64 > self.cap {
                        return Err(DecodeError::TooLarge { cap: self.cap });
                    }
                    self.out.extend_from_slice(input);
                    return Ok(());
                }
                State::BetweenMembers => {
                    // a new member must start with the magic; a split magic is checked byte
                    // by byte (the inflater itself rejects a bad header after it)
                    if input[0] != GZIP_MAGIC[0] {
                        return Err(gzip_error("invalid gzip header after a complete member"));
                    }
                    self.state = State::Member(Box::new(Decompress::new_gzip(15)));
                }
                State::Member(z) => {
                    if self.out.len() == self.out.capacity() {
                        self.out
                            .reserve(self.out.capacity().clamp(64 << 10, 64 << 20));
                    }
                    let (in0, out0) = (z.total_in(), self.out.len());
                    let status = z
                        .decompress_vec(input, &mut self.out, FlushDecompress::None)
                        .map_err(|e| gzip_error(e.to_string()))?;
                    let used = (z.total_in() - in0) as usize;
                    input = &input[used..];
                    if self.out.len() as u64 > self.cap {
                        return Err(DecodeError::TooLarge { cap: self.cap });
                    }
                    if status == Status::StreamEnd {
                        self.state = State::BetweenMembers;
                    } else if used == 0
                        && self.out.len() == out0
                        && self.out.len() < self.out.capacity()
                    {
                        return Err(gzip_error("the gzip stream stopped making progress"));
                    }
                }
            }
        }
        // input used up inside a member: let the inflater flush what it holds back
        while let State::Member(z) = &mut self.state {
            if self.out.len() < self.out.capacity() {
                break;
            }
            self.out
                .reserve(self.out.capacity().clamp(64 << 10, 64 << 20));
            let out0 = self.out.len();
            let status = z
                .decompress_vec(&[], &mut self.out, FlushDecompress::None)
                .map_err(|e| gzip_error(e.to_string()))?;
            if self.out.len() as u64 > self.cap {
                return Err(DecodeError::TooLarge { cap: self.cap });
            }
            if status == Status::StreamEnd {
                self.state = State::BetweenMembers;
            } else if self.out.len() == out0 {
                break;
            }
        }
        Ok(())
    }

    /// Ends the input: the decompressed bytes, or why the object is bad.
    pub fn finish(self) -> Result<Vec<u8>, DecodeError> {
        match self.state {
            State::Failed(e) => Err(e),
            State::Member(_) => Err(gzip_error(
                "unexpected end of the gzip stream (truncated object)",
            )),
            State::BetweenMembers => Ok(self.out),
            State::Start | State::Plain => {
                // plain bytes are in `out`; fewer than two bytes are still in `head`
                let bytes = if self.out.is_empty() {
                    self.head
                } else {
                    self.out
                };
                match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                    Some(b'{') => Ok(bytes),
                    _ => Err(DecodeError::NotGzipOrJson(
                        bytes.iter().take(8).copied().collect(),
                    )),
                }
            }
        }
    }
}

/// The JSON size an object will inflate to, as far as its stored bytes tell: a gzip member
/// ends with its inflated size (mod 4 GiB). Meant for routing big objects, not for sizing
/// buffers: a multi-member file reports only its last member, so the hint never goes below the
/// stored size.
pub fn inflated_size_hint(stored: &[u8]) -> usize {
    match stored {
        [0x1f, 0x8b, ..] if stored.len() >= 18 => {
            let tail: [u8; 4] = stored[stored.len() - 4..].try_into().unwrap_or_default();
            (u32::from_le_bytes(tail) as usize).max(stored.len())
        }
        _ => stored.len(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn inflate_in(raw: &[u8], piece: usize, cap: u64) -> Result<Vec<u8>, DecodeError> {
        let mut inf = Inflater::new(Vec::new(), cap);
        for chunk in raw.chunks(piece.max(1)) {
            if !inf.push(chunk) {
                break;
            }
        }
        inf.finish()
    }

    /// Incompressible-ish JSON, so output grows in many steps.
    fn doc(n: usize) -> Vec<u8> {
        let mut s = String::from("{\"Records\":[");
        let mut x: u64 = 7;
        for i in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.push_str(&format!(
                "{}{{\"eventID\":\"{x:x}\",\"n\":{i}}}",
                if i > 0 { "," } else { "" }
            ));
        }
        s.push_str("]}");
        s.into_bytes()
    }

    #[test]
    fn any_split_of_a_multi_member_stream_gives_the_same_bytes() {
        let (a, b) = (doc(3000), doc(5));
        let mut raw = gz(&a);
        raw.extend(gz(&b));
        let want = [a, b].concat();
        for piece in [1, 2, 3, 7, 100, 4096, 65536, raw.len()] {
            assert_eq!(
                inflate_in(&raw, piece, u64::MAX).unwrap(),
                want,
                "piece {piece}"
            );
        }
    }

    #[test]
    fn plain_json_passes_through_and_other_bytes_are_refused() {
        let json = b"  {\"Records\":[]}";
        for piece in [1, 2, 5, 100] {
            assert_eq!(inflate_in(json, piece, u64::MAX).unwrap(), json);
        }
        assert!(matches!(
            inflate_in(b"PK\x03\x04zip", 1, u64::MAX),
            Err(DecodeError::NotGzipOrJson(_))
        ));
        assert!(matches!(
            inflate_in(b"", 1, u64::MAX),
            Err(DecodeError::NotGzipOrJson(_))
        ));
        assert!(matches!(inflate_in(b"{", 1, u64::MAX), Ok(v) if v == b"{"));
    }

    #[test]
    fn truncated_corrupt_or_oversized_streams_fail() {
        let raw = gz(&doc(2000));
        assert!(inflate_in(&raw[..1], 512, u64::MAX).is_err());
        for cut in [2, 10, raw.len() / 2, raw.len() - 1] {
            let err = inflate_in(&raw[..cut], 512, u64::MAX).unwrap_err();
            assert!(matches!(err, DecodeError::Gzip(_)), "cut {cut}: {err}");
        }
        let mut bad = raw.clone();
        bad[raw.len() / 2] ^= 0xff;
        bad[raw.len() / 2 + 1] ^= 0x55;
        assert!(inflate_in(&bad, 512, u64::MAX).is_err());
        let mut trailing = raw.clone();
        trailing.extend_from_slice(b"garbage");
        assert!(matches!(
            inflate_in(&trailing, 512, u64::MAX),
            Err(DecodeError::Gzip(_))
        ));
        assert!(matches!(
            inflate_in(&raw, 512, 1000),
            Err(DecodeError::TooLarge { cap: 1000 })
        ));
        assert!(matches!(
            inflate_in(b"{\"Records\":[]}", 3, 5),
            Err(DecodeError::TooLarge { cap: 5 })
        ));
    }

    #[test]
    fn the_first_error_sticks_and_stops_the_reader() {
        let mut inf = Inflater::new(Vec::new(), 10);
        assert!(!inf.push(b"{\"Records\":[1,2,3]}"));
        assert!(!inf.push(b"more"));
        assert!(matches!(
            inf.finish(),
            Err(DecodeError::TooLarge { cap: 10 })
        ));
    }

    #[test]
    fn the_size_hint_reads_the_gzip_trailer() {
        let json = vec![b' '; 100_000];
        let packed = gz(&json);
        assert_eq!(inflated_size_hint(&packed), 100_000);
        assert_eq!(inflated_size_hint(b"{\"Records\":[]}"), 14);
        // a truncated or tiny body never hints below its own size
        assert_eq!(inflated_size_hint(&packed[..10]), 10);
    }
}
