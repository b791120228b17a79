//! Primitive data representations (MQTT section 1.5): integers, variable byte integers, UTF-8 strings, binary
//! data. Reading slices a shared `Bytes`, so strings and payloads are zero-copy views of the received frame.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};

/// Largest value of a Variable Byte Integer (4 bytes).
pub const VARINT_MAX: u32 = 268_435_455;

/// Reads the fields of one frame body, checking every length against what is left.
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Bytes,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        if self.buf.is_empty() {
            return Err(DecodeError::Truncated(field));
        }
        Ok(self.buf.get_u8())
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        if self.buf.len() < 2 {
            return Err(DecodeError::Truncated(field));
        }
        Ok(self.buf.get_u16())
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        if self.buf.len() < 4 {
            return Err(DecodeError::Truncated(field));
        }
        Ok(self.buf.get_u32())
    }

    /// A Variable Byte Integer inside the body (a property length, a subscription identifier...).
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        match parse_varint(&self.buf) {
            Ok(Some((value, used))) => {
                self.buf.advance(used);
                Ok(value)
            }
            Ok(None) => Err(DecodeError::Truncated(field)),
            Err(VarIntFault::TooLong) => Err(DecodeError::VarIntTooLong(field)),
            Err(VarIntFault::NotMinimal) => Err(DecodeError::VarIntNotMinimal(field)),
        }
    }

    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(field));
        }
        Ok(self.buf.split_to(n))
    }

    /// Binary Data: a two-byte length and that many bytes.
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(field)? as usize;
        self.take(len, field)
    }

    /// UTF-8 Encoded String [MQTT-1.5.4-1], [MQTT-1.5.4-2].
    pub(crate) fn string(&mut self, field: &'static str) -> Result<ByteString, DecodeError> {
        let raw = self.binary(field)?;
        to_string(raw, field)
    }

    /// What is left of the frame, e.g. a PUBLISH payload.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// Fails if bytes are left over: every packet's length must be exactly its fields.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.buf.len()))
        }
    }
}

/// Checks that `raw` is a well-formed MQTT UTF-8 string [MQTT-1.5.4-1], [MQTT-1.5.4-2]: valid UTF-8 per RFC 3629
/// (which excludes encoded surrogates U+D800..U+DFFF and overlong forms, including the two-byte U+0000) and no
/// U+0000. A BOM (U+FEFF) is kept as it is [MQTT-1.5.4-3].
pub(crate) fn to_string(raw: Bytes, field: &'static str) -> Result<ByteString, DecodeError> {
    if raw.contains(&0) {
        return Err(DecodeError::NullCharacter(field));
    }
    ByteString::try_from(raw).map_err(|_| DecodeError::InvalidUtf8(field))
}

/// What is wrong with a Variable Byte Integer that is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarIntFault {
    /// A fifth byte would be needed: at most four are allowed (MQTT 5.0 1.5.5, 3.1.1 2.2.3).
    TooLong,
    /// The value fits in fewer bytes [MQTT-1.5.5-1]: a last byte of 0 after a continuation.
    NotMinimal,
}

/// Parses a Variable Byte Integer at the start of `buf`: `Ok(None)` if more bytes are needed.
pub(crate) fn parse_varint(buf: &[u8]) -> Result<Option<(u32, usize)>, VarIntFault> {
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().enumerate().take(4) {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            if byte == 0 && i > 0 {
                return Err(VarIntFault::NotMinimal);
            }
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        Err(VarIntFault::TooLong)
    } else {
        Ok(None)
    }
}

/// Decodes the Remaining Length, a Variable Byte Integer, from the start of `buf`: `Ok(None)` if more bytes
/// are needed, the value and the number of bytes used otherwise. More than four bytes, or more bytes than the
/// value needs, is malformed.
pub fn decode_varint(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    parse_varint(buf).map_err(|fault| match fault {
        VarIntFault::TooLong => DecodeError::RemainingLengthTooLong,
        VarIntFault::NotMinimal => DecodeError::VarIntNotMinimal("remaining length"),
    })
}

/// Bytes needed to encode `value` as a Variable Byte Integer.
pub const fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

pub(crate) fn put_varint(buf: &mut BytesMut, mut value: usize) {
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if value == 0 {
            break;
        }
    }
}

pub(crate) fn check_len(len: usize, field: &'static str) -> Result<(), EncodeError> {
    if len > usize::from(u16::MAX) {
        Err(EncodeError::FieldTooLong(field))
    } else {
        Ok(())
    }
}

/// Writes Binary Data or a UTF-8 string: two-byte length, then the bytes. Lengths are checked by the packet's
/// `check` step before anything is written.
pub(crate) fn put_binary(buf: &mut BytesMut, data: &[u8]) {
    buf.put_u16(data.len() as u16);
    buf.put_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_boundaries_round_trip() {
        for value in [0usize, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455] {
            let mut buf = BytesMut::new();
            put_varint(&mut buf, value);
            assert_eq!(buf.len(), varint_len(value));
            assert_eq!(decode_varint(&buf), Ok(Some((value as u32, buf.len()))));
        }
    }

    #[test]
    fn varint_spec_examples() {
        // Table 1.1 of MQTT 5.0 / 2.4 of 3.1.1.
        assert_eq!(decode_varint(&[0x7F]), Ok(Some((127, 1))));
        assert_eq!(decode_varint(&[0x80, 0x01]), Ok(Some((128, 2))));
        assert_eq!(decode_varint(&[0xFF, 0xFF, 0xFF, 0x7F]), Ok(Some((268_435_455, 4))));
        assert_eq!(decode_varint(&[0x80, 0x80]), Ok(None));
        assert_eq!(decode_varint(&[0x80, 0x80, 0x80, 0x80, 0x01]), Err(DecodeError::RemainingLengthTooLong));
        assert_eq!(decode_varint(&[0x80, 0x80, 0x80, 0x80]), Err(DecodeError::RemainingLengthTooLong));
    }

    #[test]
    fn varint_in_more_bytes_than_needed_is_malformed() {
        // [MQTT-1.5.5-1] The encoded value MUST use the minimum number of bytes necessary.
        for bytes in [&[0x80, 0x00][..], &[0xFF, 0x00], &[0x80, 0x80, 0x00], &[0x81, 0x80, 0x80, 0x00]] {
            assert_eq!(decode_varint(bytes), Err(DecodeError::VarIntNotMinimal("remaining length")));
        }
        let mut r = Reader::new(Bytes::from_static(&[0x85, 0x00]));
        assert_eq!(r.varint("property length"), Err(DecodeError::VarIntNotMinimal("property length")));
        let mut r = Reader::new(Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x01]));
        assert_eq!(
            r.varint("subscription identifier"),
            Err(DecodeError::VarIntTooLong("subscription identifier"))
        );
        let mut r = Reader::new(Bytes::from_static(&[0x80, 0x80]));
        assert_eq!(r.varint("property length"), Err(DecodeError::Truncated("property length")));
    }

    #[test]
    fn strings_reject_nul_surrogates_and_overlong_forms() {
        // [MQTT-1.5.4-1], [MQTT-1.5.4-2]
        let check = |raw: &'static [u8]| to_string(Bytes::from_static(raw), "s");
        assert_eq!(check(b"a\0b"), Err(DecodeError::NullCharacter("s")));
        assert_eq!(check(&[0xC0, 0x80]), Err(DecodeError::InvalidUtf8("s")));
        assert_eq!(check(&[0xED, 0xA0, 0x80]), Err(DecodeError::InvalidUtf8("s")));
        assert_eq!(check(&[0xE0, 0x80, 0xAF]), Err(DecodeError::InvalidUtf8("s")));
        assert_eq!(check(&[0xF4, 0x90, 0x80, 0x80]), Err(DecodeError::InvalidUtf8("s")));
        // [MQTT-1.5.4-3] A BOM is not stripped.
        assert_eq!(check(&[0xEF, 0xBB, 0xBF, b'x']).map(|s| s.len()), Ok(4));
    }
}
