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

    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        match decode_varint(&self.buf)? {
            Some((value, used)) => {
                self.buf.advance(used);
                Ok(value)
            }
            None => Err(DecodeError::Truncated(field)),
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

/// Checks that `raw` is a well-formed MQTT UTF-8 string: valid UTF-8 (which excludes surrogates and overlong
/// forms) and no U+0000.
pub(crate) fn to_string(raw: Bytes, field: &'static str) -> Result<ByteString, DecodeError> {
    if raw.contains(&0) {
        return Err(DecodeError::NullCharacter(field));
    }
    ByteString::try_from(raw).map_err(|_| DecodeError::InvalidUtf8(field))
}

/// Decodes a Variable Byte Integer from the start of `buf`: `Ok(None)` if more bytes are needed, the value and
/// the number of bytes used otherwise.
pub fn decode_varint(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, byte) in buf.iter().enumerate().take(4) {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        Err(DecodeError::RemainingLengthTooLong)
    } else {
        Ok(None)
    }
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
    }
}
