//! How `tern sub` and `tern rr` print a message: the payload alone, `-v` (topic and payload), or `-F FORMAT`
//! with mosquitto_sub's sequences: `%` codes for the message and its MQTT 5.0 properties (with `-`/`0` flags,
//! field width and precision), `@` codes passed to strftime (plus `@N`, nanoseconds), and `\` escapes.
//! Output matches mosquitto_sub 2.0 byte for byte, quirks included (e.g. `%5p` truncates the payload to five
//! bytes, and a width on `%x` counts payload bytes before hex encoding).

use chrono::{DateTime, Local, Timelike};
use tern_codec::Publish;

use crate::json::Json;

/// How messages are printed.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    pub format: Option<String>,
    pub verbose: bool,
    /// Append a newline after each message (`-N` turns it off).
    pub eol: bool,
    /// Multi-line JSON for `%j` / `%J`.
    pub pretty: bool,
}

/// Validates a `-F` format as mosquitto does before connecting.
pub fn check_format(format: &str) -> Result<(), String> {
    let s = format.as_bytes();
    let len = s.len();
    let incomplete = || Err("Error: Incomplete format specifier.".to_owned());
    let mut i = 0;
    while i < len {
        match s[i] {
            b'%' => {
                if i == len - 1 {
                    return incomplete();
                }
                if s[i + 1] == b'0' || s[i + 1] == b'-' {
                    i += 1;
                    if i == len - 1 {
                        return incomplete();
                    }
                }
                while s[i + 1].is_ascii_digit() {
                    i += 1;
                    if i == len - 1 {
                        return incomplete();
                    }
                }
                if s[i + 1] == b'.' {
                    i += 1;
                    if i == len - 1 {
                        return incomplete();
                    }
                    while s[i + 1].is_ascii_digit() {
                        i += 1;
                        if i == len - 1 {
                            return incomplete();
                        }
                    }
                }
                let c = s[i + 1];
                if !b"%ACDEFIlmPpqRSrtjJUxX".contains(&c) {
                    return Err(format!("Error: Invalid format specifier '{}'.", char::from(c)));
                }
                i += 1;
            }
            b'@' => {
                if i == len - 1 {
                    return incomplete();
                }
                i += 1;
            }
            b'\\' => {
                if i == len - 1 {
                    return Err("Error: Incomplete escape specifier.".to_owned());
                }
                if !b"\\0aenrtv".contains(&s[i + 1]) {
                    return Err(format!("Error: Invalid escape specifier '{}'.", char::from(s[i + 1])));
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Alignment and padding of one `%` sequence.
#[derive(Debug, Clone, Copy)]
struct Field {
    left: bool,
    zero: bool,
    width: usize,
    precision: Option<usize>,
}

impl Field {
    fn pad_char(self) -> u8 {
        if self.zero {
            b'0'
        } else {
            b' '
        }
    }

    /// printf `%d` with `-`, `0` and width.
    fn int(self, out: &mut Vec<u8>, value: i64) {
        let s = if self.width == 0 {
            value.to_string()
        } else if self.left {
            format!("{value:<w$}", w = self.width)
        } else if self.zero {
            format!("{value:0w$}", w = self.width)
        } else {
            format!("{value:>w$}", w = self.width)
        };
        out.extend_from_slice(s.as_bytes());
    }

    /// printf `%s` with `-`, width and precision (bytes).
    fn str(self, out: &mut Vec<u8>, value: &[u8]) {
        let value = match self.precision {
            Some(p) => &value[..p.min(value.len())],
            None => value,
        };
        let pad = self.width.saturating_sub(value.len());
        if !self.left {
            out.extend(std::iter::repeat_n(b' ', pad));
        }
        out.extend_from_slice(value);
        if self.left {
            out.extend(std::iter::repeat_n(b' ', pad));
        }
    }

    fn blank(self, out: &mut Vec<u8>, pad: u8) {
        out.extend(std::iter::repeat_n(pad, self.width));
    }

    /// The payload raw or in hex, as mosquitto's write_payload: a width truncates the payload to that many
    /// bytes (halved again for hex) and pads the rest.
    fn payload(self, out: &mut Vec<u8>, payload: &[u8], hex: Option<bool>) {
        let mut len = payload.len();
        let padlen;
        if self.width > 0 {
            len = len.min(self.width);
            if hex.is_some() {
                len /= 2;
                padlen = self.width - len * 2;
            } else {
                padlen = self.width - len;
            }
        } else {
            padlen = 0;
        }
        if !self.left {
            out.extend(std::iter::repeat_n(self.pad_char(), padlen));
        }
        let bytes = &payload[..len];
        match hex {
            None => out.extend_from_slice(bytes),
            Some(upper) => {
                for b in bytes {
                    let s = if upper { format!("{b:02X}") } else { format!("{b:02x}") };
                    out.extend_from_slice(s.as_bytes());
                }
            }
        }
        if self.left {
            out.extend(std::iter::repeat_n(b' ', padlen));
        }
    }
}

fn strftime(now: &DateTime<Local>, spec: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    // An unknown conversion prints nothing, as strftime returning 0 does in mosquitto.
    if write!(s, "{}", now.format(spec)).is_err() {
        s.clear();
    }
    s
}

/// The message as `%j` (`escaped`) or `%J` prints it; `None` for `%J` when the payload is not JSON.
fn json(p: &Publish, now: &DateTime<Local>, escaped: bool) -> Option<Json> {
    let tst = format!(
        "{}.{:06}Z{}",
        now.format("%Y-%m-%dT%H:%M:%S"),
        now.nanosecond() / 1000 % 1_000_000,
        now.format("%z")
    );
    let mut members = vec![
        ("tst".to_owned(), Json::String(tst.into_bytes())),
        ("topic".to_owned(), Json::String(p.topic.as_bytes().to_vec())),
        ("qos".to_owned(), Json::Int(i64::from(p.qos.as_u8()))),
        ("retain".to_owned(), Json::Int(i64::from(p.retain))),
        ("payloadlen".to_owned(), Json::Int(p.payload.len() as i64)),
    ];
    if let Some(mid) = p.packet_id {
        members.push(("mid".to_owned(), Json::Int(i64::from(mid.get()))));
    }
    let props = &p.properties;
    let mut pj = Vec::new();
    let s = |v: &[u8]| Json::String(v.to_vec());
    if let Some(v) = &props.content_type {
        pj.push(("content-type".to_owned(), s(v.as_bytes())));
    }
    if !props.user_properties.is_empty() {
        let users = props.user_properties.iter().map(|(k, v)| (k.to_string(), s(v.as_bytes()))).collect();
        pj.push(("user-properties".to_owned(), Json::Object(users)));
    }
    if let Some(v) = &props.response_topic {
        pj.push(("response-topic".to_owned(), s(v.as_bytes())));
    }
    if let Some(v) = &props.correlation_data {
        pj.push(("correlation-data".to_owned(), s(v)));
    }
    if let Some(v) = props.payload_format_indicator {
        pj.push(("payload-format-indicator".to_owned(), Json::Int(i64::from(v))));
    }
    if let Some(v) = props.message_expiry_interval {
        pj.push(("message-expiry-interval".to_owned(), Json::Int(i64::from(v))));
    }
    for v in &props.subscription_identifiers {
        pj.push(("subscription-identifier".to_owned(), Json::Int(i64::from(*v))));
    }
    if let Some(v) = props.topic_alias {
        pj.push(("topic-alias".to_owned(), Json::Int(i64::from(v))));
    }
    if !pj.is_empty() {
        members.push(("properties".to_owned(), Json::Object(pj)));
    }
    let payload = if p.payload.is_empty() {
        Json::Null
    } else if escaped {
        Json::String(p.payload.to_vec())
    } else {
        Json::parse(&p.payload)?
    };
    members.push(("payload".to_owned(), payload));
    Some(Json::Object(members))
}

/// Formats one message. Errors (a `%J` payload that is not JSON) go to `errors`, printing continues.
pub fn format_message(
    opts: &OutputOptions,
    p: &Publish,
    now: &DateTime<Local>,
    out: &mut Vec<u8>,
    errors: &mut Vec<String>,
) {
    let Some(format) = &opts.format else {
        if opts.verbose {
            out.extend_from_slice(p.topic.as_bytes());
            if p.payload.is_empty() {
                out.extend_from_slice(b" (null)");
            } else {
                out.push(b' ');
                out.extend_from_slice(&p.payload);
            }
            if opts.eol {
                out.push(b'\n');
            }
        } else if !p.payload.is_empty() {
            out.extend_from_slice(&p.payload);
            if opts.eol {
                out.push(b'\n');
            }
        }
        return;
    };
    let f = format.as_bytes();
    let len = f.len();
    let mut i = 0;
    while i < len {
        match f[i] {
            b'%' => {
                let mut field = Field { left: false, zero: false, width: 0, precision: None };
                if i < len - 1 {
                    i += 1;
                    if f[i] == b'-' {
                        field.left = true;
                        if i < len - 1 {
                            i += 1;
                        }
                    }
                    if f[i] == b'0' {
                        field.zero = true;
                        if i < len - 1 {
                            i += 1;
                        }
                    }
                    while i < len - 1 && f[i].is_ascii_digit() {
                        field.width = field.width.saturating_mul(10).saturating_add(usize::from(f[i] - b'0'));
                        i += 1;
                    }
                    if f[i] == b'.' && i < len - 1 {
                        i += 1;
                        let mut precision = 0usize;
                        while i < len - 1 && f[i].is_ascii_digit() {
                            precision = precision.saturating_mul(10).saturating_add(usize::from(f[i] - b'0'));
                            i += 1;
                        }
                        field.precision = Some(precision);
                    }
                    percent(opts, p, now, f[i], field, out, errors);
                }
            }
            b'@' => {
                if i < len - 1 {
                    i += 1;
                    match f[i] {
                        b'@' => out.push(b'@'),
                        b'N' => out
                            .extend_from_slice(format!("{:09}", now.nanosecond() % 1_000_000_000).as_bytes()),
                        c => out.extend_from_slice(strftime(now, &format!("%{}", char::from(c))).as_bytes()),
                    }
                }
            }
            b'\\' => {
                if i < len - 1 {
                    i += 1;
                    let c = match f[i] {
                        b'\\' => Some(b'\\'),
                        b'0' => Some(0),
                        b'a' => Some(0x07),
                        b'e' => Some(0x1B),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'v' => Some(0x0B),
                        _ => None,
                    };
                    out.extend(c);
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    if opts.eol {
        out.push(b'\n');
    }
}

fn percent(
    opts: &OutputOptions,
    p: &Publish,
    now: &DateTime<Local>,
    code: u8,
    field: Field,
    out: &mut Vec<u8>,
    errors: &mut Vec<String>,
) {
    let props = &p.properties;
    let pad = field.pad_char();
    match code {
        b'%' => out.push(b'%'),
        b'A' => match props.topic_alias {
            Some(v) => field.int(out, i64::from(v)),
            None => field.blank(out, pad),
        },
        b'C' => match &props.content_type {
            Some(v) => field.str(out, v.as_bytes()),
            None => field.blank(out, b' '),
        },
        b'D' => {
            if let Some(v) = &props.correlation_data {
                out.extend_from_slice(v);
            }
        }
        b'E' => match props.message_expiry_interval {
            // mosquitto prints it as a C int.
            Some(v) => field.int(out, i64::from(v as i32)),
            None => field.blank(out, pad),
        },
        b'F' => match props.payload_format_indicator {
            Some(v) => field.int(out, i64::from(v)),
            None => field.blank(out, pad),
        },
        b'I' => field.str(out, strftime(now, "%FT%T%z").as_bytes()),
        b'j' | b'J' => {
            let escaped = code == b'j';
            match json(p, now, escaped) {
                Some(j) => j.write(out, opts.pretty),
                None => {
                    errors.push(format!("Error: Message payload is not valid JSON on topic {}.", p.topic))
                }
            }
        }
        b'l' => field.int(out, p.payload.len() as i64),
        b'm' => field.int(out, i64::from(p.packet_id.map_or(0, |id| id.get()))),
        b'P' => {
            for (n, (k, v)) in props.user_properties.iter().enumerate() {
                if n > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b':');
                out.extend_from_slice(v.as_bytes());
            }
        }
        b'p' => field.payload(out, &p.payload, None),
        b'q' => out.push(b'0' + p.qos.as_u8()),
        b'R' => {
            if let Some(v) = &props.response_topic {
                field.str(out, v.as_bytes());
            }
        }
        b'r' => out.push(if p.retain { b'1' } else { b'0' }),
        b'S' => match props.subscription_identifiers.first() {
            Some(v) => field.int(out, i64::from(*v as i32)),
            None => field.blank(out, pad),
        },
        b't' => field.str(out, p.topic.as_bytes()),
        b'U' => out.extend_from_slice(
            format!("{}.{:09}", now.timestamp(), now.nanosecond() % 1_000_000_000).as_bytes(),
        ),
        b'x' => field.payload(out, &p.payload, Some(false)),
        b'X' => field.payload(out, &p.payload, Some(true)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;

    use chrono::TimeZone;
    use tern_codec::QoS;

    use super::*;

    fn msg() -> Publish {
        let mut p = Publish::new("w/a", "abcdefg");
        p.qos = QoS::AtLeastOnce;
        p.packet_id = NonZeroU16::new(1);
        p
    }

    fn fmt(format: &str, p: &Publish) -> String {
        let opts = OutputOptions { format: Some(format.into()), eol: false, ..Default::default() };
        let now = Local.with_ymd_and_hms(2020, 5, 6, 21, 48, 0).unwrap();
        let mut out = Vec::new();
        let mut errors = Vec::new();
        format_message(&opts, p, &now, &mut out, &mut errors);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn widths_flags_and_precision_as_mosquitto_sub_prints_them() {
        // Printed by mosquitto_sub 2.0.11 for the same message (QoS 0 there, so %m was 0).
        let mut p = msg();
        p.qos = QoS::AtMostOnce;
        p.packet_id = None;
        assert_eq!(
            fmt("[%20x][%-20p][%05p][%3p][%4x][%-5l][%05l][%-05l][%.2p][%010t][%-3q][%5m][%5r]", &p),
            "[              616263][abcdefg             ][abcde][abc][6162][7    ][00007][7    ][abcdefg][       w/a][0][    0][0]"
        );
    }

    #[test]
    fn message_codes() {
        let p = msg();
        assert_eq!(fmt("%t %q %r %l %m %x %X %%", &p), "w/a 1 0 7 1 61626364656667 61626364656667 %");
        assert_eq!(fmt("%5.2t|%-5t|", &p), "   w/|w/a  |");
    }

    #[test]
    fn v5_property_codes_are_blank_when_absent() {
        let mut p = msg();
        assert_eq!(fmt("[%A][%C][%D][%E][%F][%P][%R][%S][%3E]", &p), "[][][][][][][][][   ]");
        p.properties.content_type = Some("text/json".into());
        p.properties.user_properties = vec![("k".into(), "v".into()), ("k2".into(), "v2".into())];
        p.properties.response_topic = Some("r/t".into());
        p.properties.correlation_data = Some("cd1".into());
        p.properties.message_expiry_interval = Some(100);
        p.properties.payload_format_indicator = Some(true);
        p.properties.subscription_identifiers = vec![7];
        p.properties.topic_alias = Some(3);
        assert_eq!(fmt("%A %C %D %E %F %P %R %S %03S", &p), "3 text/json cd1 100 1 k:v k2:v2 r/t 7 007");
    }

    #[test]
    fn escapes_and_time_codes() {
        let p = msg();
        assert_eq!(fmt("a\\tb\\\\c\\0d\\ee", &p), "a\tb\\c\0d\x1be");
        assert_eq!(fmt("@Y-@m-@d @H:@M:@S @@ @N", &p), "2020-05-06 21:48:00 @ 000000000");
    }

    #[test]
    fn verbose_prints_null_for_an_empty_payload_and_plain_skips_it() {
        let now = Local::now();
        let mut out = Vec::new();
        let mut errors = Vec::new();
        let verbose = OutputOptions { verbose: true, eol: true, ..Default::default() };
        format_message(&verbose, &Publish::new("f/b", ""), &now, &mut out, &mut errors);
        format_message(&verbose, &Publish::new("f/a", "x"), &now, &mut out, &mut errors);
        assert_eq!(out, b"f/b (null)\nf/a x\n");
        out.clear();
        let plain = OutputOptions { eol: true, ..Default::default() };
        format_message(&plain, &Publish::new("f/b", ""), &now, &mut out, &mut errors);
        assert!(out.is_empty());
    }

    #[test]
    fn json_codes() {
        let mut p = msg();
        p.payload = "{\"a\": 1}".into();
        let j = fmt("%j", &p);
        assert!(j.starts_with("{\"tst\":\"2020-05-06T21:48:00.000000Z"), "{j}");
        assert!(j.ends_with(",\"topic\":\"w/a\",\"qos\":1,\"retain\":0,\"payloadlen\":8,\"mid\":1,\"payload\":\"{\\\"a\\\": 1}\"}"), "{j}");
        assert!(fmt("%J", &p).ends_with("\"payload\":{\"a\":1}}"));
        p.payload = "not json".into();
        let opts = OutputOptions { format: Some("%J".into()), ..Default::default() };
        let mut errors = Vec::new();
        format_message(&opts, &p, &Local::now(), &mut Vec::new(), &mut errors);
        assert_eq!(errors, vec!["Error: Message payload is not valid JSON on topic w/a.".to_owned()]);
    }

    #[test]
    fn format_check_messages() {
        assert_eq!(check_format("%"), Err("Error: Incomplete format specifier.".into()));
        assert_eq!(check_format("%-"), Err("Error: Incomplete format specifier.".into()));
        assert_eq!(check_format("%10"), Err("Error: Incomplete format specifier.".into()));
        assert_eq!(check_format("%y"), Err("Error: Invalid format specifier 'y'.".into()));
        assert_eq!(check_format("\\q"), Err("Error: Invalid escape specifier 'q'.".into()));
        assert_eq!(check_format("@"), Err("Error: Incomplete format specifier.".into()));
        assert_eq!(check_format("%-010.5t @Y \\n"), Ok(()));
    }
}
