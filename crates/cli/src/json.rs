//! JSON as mosquitto_sub prints it (it uses cJSON): compact or, with `--pretty`, tab-indented with a tab
//! after each `:`. A payload is parsed and printed again for `%J`, keeping the order of keys and printing
//! numbers the way cJSON does.

/// A JSON value with object members in their original order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(f64),
    /// A number printed as an integer (sizes, QoS, ids).
    Int(i64),
    String(Vec<u8>),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Escapes a string as cJSON does: `"` `\` and control characters; other bytes (UTF-8) as they are.
/// cJSON stops at a NUL byte (it works on C strings).
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s.iter().take_while(|&&b| b != 0) {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1F => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// A number as cJSON prints it: an integer when it is one and fits an `int`, else `%1.15g`, or `%1.17g`
/// when 15 digits do not round-trip.
pub fn format_number(d: f64) -> String {
    if !d.is_finite() {
        return "null".into();
    }
    if d.fract() == 0.0 && d >= f64::from(i32::MIN) && d <= f64::from(i32::MAX) {
        return format!("{}", d as i64);
    }
    let s = format_g(d, 15);
    if s.parse::<f64>().ok() == Some(d) {
        s
    } else {
        format_g(d, 17)
    }
}

/// C's `%.{precision}g`.
fn format_g(d: f64, precision: usize) -> String {
    if d == 0.0 {
        return "0".into();
    }
    let exp = d.abs().log10().floor() as i32;
    // Round first: the exponent after rounding decides the style.
    let sci = format!("{:.*e}", precision.saturating_sub(1), d);
    let (mantissa, e) = sci.split_once('e').unwrap_or((&sci, "0"));
    let e: i32 = e.parse().unwrap_or(exp);
    if e < -4 || e >= precision as i32 {
        let mantissa = trim_fraction(mantissa);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", e.abs())
    } else {
        let decimals = (precision as i32 - 1 - e).max(0) as usize;
        trim_fraction(&format!("{d:.decimals$}")).to_owned()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

impl Json {
    /// Prints compactly (`pretty == false`) or as cJSON_Print does.
    pub fn write(&self, out: &mut Vec<u8>, pretty: bool) {
        self.write_at(out, pretty, 1);
    }

    fn write_at(&self, out: &mut Vec<u8>, pretty: bool, depth: usize) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Json::Number(d) => out.extend_from_slice(format_number(*d).as_bytes()),
            Json::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Json::String(s) => write_string(out, s),
            Json::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(if pretty { b", " } else { b"," });
                    }
                    item.write_at(out, pretty, depth + 1);
                }
                out.push(b']');
            }
            Json::Object(members) => {
                out.push(b'{');
                if pretty {
                    out.push(b'\n');
                }
                for (i, (k, v)) in members.iter().enumerate() {
                    if pretty {
                        out.extend(std::iter::repeat_n(b'\t', depth));
                    }
                    write_string(out, k.as_bytes());
                    out.push(b':');
                    if pretty {
                        out.push(b'\t');
                    }
                    v.write_at(out, pretty, depth + 1);
                    if i + 1 < members.len() {
                        out.push(b',');
                    }
                    if pretty {
                        out.push(b'\n');
                    }
                }
                if pretty {
                    out.extend(std::iter::repeat_n(b'\t', depth - 1));
                }
                out.push(b'}');
            }
        }
    }

    /// Parses a whole document (surrounding blanks allowed); `None` if it is not valid JSON.
    pub fn parse(input: &[u8]) -> Option<Json> {
        let mut p = Parser { s: input, i: 0, depth: 0 };
        p.blank();
        let v = p.value()?;
        p.blank();
        (p.i == input.len()).then_some(v)
    }
}

/// A small recursive-descent parser, limited in depth as cJSON is (1000).
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn blank(&mut self) {
        while self.s.get(self.i).is_some_and(|b| *b <= b' ') {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Json> {
        self.depth += 1;
        if self.depth > 1000 {
            return None;
        }
        let v = match *self.s.get(self.i)? {
            b'n' if self.eat(b"null") => Json::Null,
            b't' if self.eat(b"true") => Json::Bool(true),
            b'f' if self.eat(b"false") => Json::Bool(false),
            b'"' => Json::String(self.string()?),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.blank();
                if !self.eat(b"]") {
                    loop {
                        self.blank();
                        items.push(self.value()?);
                        self.blank();
                        if self.eat(b"]") {
                            break;
                        }
                        if !self.eat(b",") {
                            return None;
                        }
                    }
                }
                Json::Array(items)
            }
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                self.blank();
                if !self.eat(b"}") {
                    loop {
                        self.blank();
                        if self.s.get(self.i) != Some(&b'"') {
                            return None;
                        }
                        let key = String::from_utf8_lossy(&self.string()?).into_owned();
                        self.blank();
                        if !self.eat(b":") {
                            return None;
                        }
                        self.blank();
                        members.push((key, self.value()?));
                        self.blank();
                        if self.eat(b"}") {
                            break;
                        }
                        if !self.eat(b",") {
                            return None;
                        }
                    }
                }
                Json::Object(members)
            }
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return None,
        };
        self.depth -= 1;
        Some(v)
    }

    fn number(&mut self) -> Option<Json> {
        let start = self.i;
        while self.s.get(self.i).is_some_and(|b| matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        text.parse::<f64>().ok().map(Json::Number)
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    fn string(&mut self) -> Option<Vec<u8>> {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.i)?;
            self.i += 1;
            match b {
                b'"' => return Some(out),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0C),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut c = self.hex4()?;
                            if (0xD800..0xDC00).contains(&c) && self.eat(b"\\u") {
                                let low = self.hex4()?;
                                c = 0x10000 + ((c - 0xD800) << 10) + (low.checked_sub(0xDC00)? & 0x3FF);
                            }
                            let ch = char::from_u32(c)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return None,
                    }
                }
                _ => out.push(b),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reprint(s: &str, pretty: bool) -> String {
        let mut out = Vec::new();
        Json::parse(s.as_bytes()).unwrap().write(&mut out, pretty);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_print_as_cjson_prints_them() {
        assert_eq!(format_number(1.0), "1");
        assert_eq!(format_number(2.5), "2.5");
        assert_eq!(format_number(1e3), "1000");
        assert_eq!(format_number(-0.1), "-0.1");
        assert_eq!(format_number(12345678901.0), "12345678901");
        assert_eq!(format_number(1e20), "1e+20");
        assert_eq!(format_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_number(1.5e-7), "1.5e-07");
    }

    #[test]
    fn compact_reprint_keeps_key_order_and_decodes_escapes() {
        // The same payload printed by mosquitto_sub 2.0.11 with %J.
        let s = r#"{"x": [1, 2.50, 1e3, -0.1, true, null, {}, [], {"y": "z\u00e9"}], "a": 12345678901}"#;
        assert_eq!(
            reprint(s, false),
            "{\"x\":[1,2.5,1000,-0.1,true,null,{},[],{\"y\":\"z\u{e9}\"}],\"a\":12345678901}"
        );
    }

    #[test]
    fn pretty_reprint_matches_cjson_print() {
        let s = r#"{"x": [1, {}, [], {"y": "z"}], "a": 1}"#;
        assert_eq!(
            reprint(s, true),
            "{\n\t\"x\":\t[1, {\n\t\t}, [], {\n\t\t\t\"y\":\t\"z\"\n\t\t}],\n\t\"a\":\t1\n}"
        );
    }

    #[test]
    fn invalid_documents_are_refused() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "tru", "1 2", "\"abc"] {
            assert!(Json::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_controls() {
        let mut out = Vec::new();
        write_string(&mut out, b"he\"l\\lo\nx\x01\xc3\xa9");
        assert_eq!(out, b"\"he\\\"l\\\\lo\\nx\\u0001\xc3\xa9\"");
    }
}
