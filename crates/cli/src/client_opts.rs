//! The options `tern pub`, `tern sub` and `tern rr` share with mosquitto_pub, mosquitto_sub and
//! mosquitto_rr 2.0: the same flags, defaults, checks and error messages, so scripts carry over by
//! replacing the program name.
//!
//! Arguments are parsed by hand rather than with clap because mosquitto's grammar is context dependent
//! (`-D` takes three or four values, an option may belong to one tool only, `-i` and `-I` exclude each
//! other) and its error messages are part of what scripts see. Defaults come first from
//! `$XDG_CONFIG_HOME/tern_pub` (or `~/.config/tern_pub`; `tern_sub`, `tern_rr`): one option per line, its
//! value being the rest of the line, `#` starting a comment.

use std::path::PathBuf;
use std::time::Duration;

use tern_client::{ConnectOptions, LastWill, Properties, ProtocolVersion, QoS, TlsOptions, Transport};
use tern_codec::topic::{validate_topic_filter, validate_topic_name};
use tern_codec::PropertyContext;

use crate::props;

/// Which tool is parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Pub,
    Sub,
    Rr,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Pub => "tern pub",
            Tool::Sub => "tern sub",
            Tool::Rr => "tern rr",
        }
    }

    fn defaults_file(self) -> &'static str {
        match self {
            Tool::Pub => "tern_pub",
            Tool::Sub => "tern_sub",
            Tool::Rr => "tern_rr",
        }
    }

    fn client_id_prefix(self) -> &'static str {
        match self {
            Tool::Pub => "tern_pub_",
            Tool::Sub => "tern_sub_",
            Tool::Rr => "tern_rr_",
        }
    }
}

/// Where the message of `tern pub` / `tern rr` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubMode {
    None,
    Message(Vec<u8>),
    File(PathBuf),
    StdinLine,
    StdinFile,
    Null,
}

/// Everything the command line and defaults file said.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub tool: Tool,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub unix_socket: Option<String>,
    pub bind_address: Option<String>,
    pub id: Option<String>,
    pub id_prefix: Option<String>,
    pub keepalive: u16,
    pub clean_session: bool,
    pub qos: QoS,
    pub retain: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub will_topic: Option<String>,
    pub will_payload: Option<Vec<u8>>,
    pub will_qos: QoS,
    pub will_retain: bool,
    pub version: ProtocolVersion,
    pub debug: bool,
    pub quiet: bool,
    pub nodelay: bool,
    pub topics: Vec<String>,
    pub response_topic: Option<String>,
    pub filter_outs: Vec<String>,
    pub unsub_topics: Vec<String>,
    pub msg_count: u32,
    pub timeout: u32,
    pub exit_after_sub: bool,
    pub no_retain: bool,
    pub retained_only: bool,
    pub remove_retained: bool,
    pub retain_as_published: bool,
    pub verbose: bool,
    pub eol: bool,
    pub pretty: bool,
    pub format: Option<String>,
    /// Per ten thousand messages printed (`--random-filter`).
    pub random_filter: u32,
    pub pub_mode: PubMode,
    pub repeat_count: u32,
    pub repeat_delay: Duration,
    pub max_inflight: u16,
    /// -1 until set.
    pub session_expiry: i64,
    pub cafile: Option<PathBuf>,
    pub capath: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
    pub insecure: bool,
    pub tls_version: Option<String>,
    pub tls_alpn: Option<String>,
    pub tls_use_os_certs: bool,
    pub websockets: bool,
    pub connect_props: Properties,
    pub publish_props: Properties,
    pub subscribe_props: Properties,
    pub unsubscribe_props: Properties,
    pub disconnect_props: Properties,
    pub will_props: Properties,
}

/// Why parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `--help`: print the usage, exit 1 (as mosquitto does).
    Help,
    /// An error message to print, then the hint to use `--help`.
    Invalid(String),
}

impl ClientConfig {
    fn new(tool: Tool) -> Self {
        ClientConfig {
            tool,
            host: None,
            port: None,
            unix_socket: None,
            bind_address: None,
            id: None,
            id_prefix: None,
            keepalive: 60,
            clean_session: true,
            qos: QoS::AtMostOnce,
            retain: false,
            username: None,
            password: None,
            will_topic: None,
            will_payload: None,
            will_qos: QoS::AtMostOnce,
            will_retain: false,
            version: if tool == Tool::Rr { ProtocolVersion::V5 } else { ProtocolVersion::V311 },
            debug: false,
            quiet: false,
            nodelay: false,
            topics: Vec::new(),
            response_topic: None,
            filter_outs: Vec::new(),
            unsub_topics: Vec::new(),
            msg_count: if tool == Tool::Rr { 1 } else { 0 },
            timeout: 0,
            exit_after_sub: false,
            no_retain: false,
            retained_only: false,
            remove_retained: false,
            retain_as_published: false,
            verbose: false,
            eol: true,
            pretty: false,
            format: None,
            random_filter: 10_000,
            pub_mode: PubMode::None,
            repeat_count: 1,
            repeat_delay: Duration::ZERO,
            max_inflight: 20,
            session_expiry: -1,
            cafile: None,
            capath: None,
            certfile: None,
            keyfile: None,
            insecure: false,
            tls_version: None,
            tls_alpn: None,
            tls_use_os_certs: false,
            websockets: false,
            connect_props: Properties::default(),
            publish_props: Properties::default(),
            subscribe_props: Properties::default(),
            unsubscribe_props: Properties::default(),
            disconnect_props: Properties::default(),
            will_props: Properties::default(),
        }
    }

    /// Parses the defaults file (if any) and then `args` (without the program name), then checks the
    /// combination.
    pub fn load(tool: Tool, args: &[String]) -> Result<ClientConfig, ParseError> {
        let mut cfg = ClientConfig::new(tool);
        if let Some(path) = defaults_path(tool) {
            if let Ok(text) = std::fs::read_to_string(&path) {
                for line in text.lines() {
                    if line.starts_with('#') {
                        continue;
                    }
                    let line = line.trim_end_matches(['\r', '\n']);
                    let mut words = line.trim_start_matches(' ').splitn(2, ' ');
                    let Some(flag) = words.next().filter(|f| !f.is_empty()) else { continue };
                    let mut line_args = vec![flag.to_owned()];
                    if let Some(rest) = words.next() {
                        line_args.push(rest.trim_start_matches(' ').to_owned());
                    }
                    cfg.parse_args(&line_args)?;
                }
            }
        }
        cfg.parse_args(args)?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&mut self) -> Result<(), ParseError> {
        let plain = |m: &str| Err(ParseError::Invalid(m.to_owned()));
        if self.will_payload.is_some() && self.will_topic.is_none() {
            return plain("Error: Will payload given, but no will topic given.");
        }
        if self.will_retain && self.will_topic.is_none() {
            return plain("Error: Will retain given, but no will topic given.");
        }
        if self.certfile.is_some() != self.keyfile.is_some() {
            return plain("Error: Both certfile and keyfile must be provided if one of them is set.");
        }
        if self.version == ProtocolVersion::V5 {
            if !self.clean_session && self.session_expiry == -1 {
                // Persistent session without an expiry given: never expire.
                self.session_expiry = i64::from(u32::MAX);
            }
            if self.session_expiry > 0 {
                if self.session_expiry == i64::from(u32::MAX)
                    && (self.id_prefix.is_some() || self.id.is_none())
                {
                    return plain(
                        "Error: You must provide a client id if you are using an infinite session expiry interval.",
                    );
                }
                self.connect_props.session_expiry_interval = u32::try_from(self.session_expiry).ok();
            }
        } else if !self.clean_session && (self.id_prefix.is_some() || self.id.is_none()) {
            return Err(ParseError::Invalid(
                "Error: You must provide a client id if you are using the -c option.".into(),
            ));
        }
        // mosquitto_sub too wants a subscription: `-U` alone is refused.
        if self.tool == Tool::Sub && self.topics.is_empty() {
            return Err(ParseError::Invalid("Error: You must specify a topic to subscribe to.".into()));
        }
        Ok(())
    }

    fn add_topic(&mut self, topic: &str) -> Result<(), ParseError> {
        match self.tool {
            Tool::Pub | Tool::Rr => {
                if validate_topic_name(topic).is_err() && !topic.is_empty() {
                    return Err(ParseError::Invalid(format!(
                        "Error: Invalid publish topic '{topic}', does it contain '+' or '#'?"
                    )));
                }
                self.topics = vec![topic.to_owned()];
            }
            Tool::Sub => {
                if validate_topic_filter(topic).is_err() {
                    return Err(ParseError::Invalid(format!(
                        "Error: Invalid subscription topic '{topic}', are all '+' and '#' wildcards correct?"
                    )));
                }
                self.topics.push(topic.to_owned());
            }
        }
        Ok(())
    }

    fn set_pub_mode(&mut self, mode: PubMode) -> Result<(), ParseError> {
        if self.pub_mode != PubMode::None {
            return Err(ParseError::Invalid("Error: Only one type of message can be sent at once.\n".into()));
        }
        self.pub_mode = mode;
        Ok(())
    }

    /// Parses one list of arguments (the command line, or one line of the defaults file).
    fn parse_args(&mut self, args: &[String]) -> Result<(), ParseError> {
        let tool = self.tool;
        let mut i = 0;
        while i < args.len() {
            let arg = args[i].as_str();
            // The value of an option, with mosquitto's message when it is missing.
            let value = |what: &str| -> Result<String, ParseError> {
                args.get(i + 1).cloned().ok_or_else(|| {
                    ParseError::Invalid(format!("Error: {arg} argument given but no {what} specified.\n"))
                })
            };
            let unknown = || Err(ParseError::Invalid(format!("Error: Unknown option '{arg}'.")));
            let invalid = |m: String| Err(ParseError::Invalid(m));
            let mut takes_value = true;
            match arg {
                "-A" => self.bind_address = Some(value("address")?),
                "--cafile" => self.cafile = Some(value("file")?.into()),
                "--capath" => self.capath = Some(value("directory")?.into()),
                "--cert" => self.certfile = Some(value("file")?.into()),
                "--ciphers" => {
                    // rustls offers only its own safe cipher suites; accepted for compatibility.
                    value("ciphers")?;
                }
                "-C" if tool == Tool::Sub => {
                    let v = atoi(&value("count")?);
                    if v < 1 {
                        return invalid(format!("Error: Invalid message count \"{v}\".\n"));
                    }
                    self.msg_count = v as u32;
                }
                "-c" | "--disable-clean-session" => {
                    self.clean_session = false;
                    takes_value = false;
                }
                "-d" | "--debug" => {
                    self.debug = true;
                    takes_value = false;
                }
                "-D" | "--property" => {
                    i += self.parse_property(&args[i + 1..])?;
                    self.version = ProtocolVersion::V5;
                    takes_value = false;
                }
                "-e" if tool == Tool::Rr => {
                    let t = value("response topic")?;
                    if validate_topic_name(&t).is_err() {
                        return invalid(format!(
                            "Error: Invalid response topic '{t}', does it contain '+' or '#'?"
                        ));
                    }
                    self.response_topic = Some(t);
                }
                "-E" if tool == Tool::Sub => {
                    self.exit_after_sub = true;
                    takes_value = false;
                }
                "-f" | "--file" if tool != Tool::Sub => {
                    if self.pub_mode != PubMode::None {
                        return invalid("Error: Only one type of message can be sent at once.\n".into());
                    }
                    let f = value("file")?;
                    self.set_pub_mode(PubMode::File(f.into()))?;
                }
                "-F" if tool != Tool::Pub => {
                    let f = value("format")?;
                    if let Err(e) = crate::format::check_format(&f) {
                        return invalid(e);
                    }
                    self.format = Some(f);
                }
                "--help" => return Err(ParseError::Help),
                "-h" | "--host" => self.host = Some(value("host")?),
                "--insecure" => {
                    self.insecure = true;
                    takes_value = false;
                }
                "-i" | "--id" => {
                    if self.id_prefix.is_some() {
                        return invalid("Error: -i and -I argument cannot be used together.\n".into());
                    }
                    self.id = Some(value("id")?);
                }
                "-I" | "--id-prefix" => {
                    if self.id.is_some() {
                        return invalid("Error: -i and -I argument cannot be used together.\n".into());
                    }
                    self.id_prefix = Some(value("id prefix")?);
                }
                "-k" | "--keepalive" => {
                    let v = atoi(&value("keepalive")?);
                    if !(5..=65535).contains(&v) {
                        return invalid(
                            "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n"
                                .into(),
                        );
                    }
                    self.keepalive = v as u16;
                }
                "--key" => self.keyfile = Some(value("file")?.into()),
                "--keyform" | "--tls-engine" | "--tls-engine-kpass-sha1" => {
                    return invalid(format!(
                        "Error: {arg} is not supported (Tern uses rustls, without engines)."
                    ));
                }
                "-L" | "--url" => {
                    let url = value("URL")?;
                    self.parse_url(&url)?;
                }
                "-l" | "--stdin-line" if tool == Tool::Pub => {
                    self.set_pub_mode(PubMode::StdinLine)?;
                    takes_value = false;
                }
                "-m" | "--message" if tool != Tool::Sub => {
                    if self.pub_mode != PubMode::None {
                        return invalid("Error: Only one type of message can be sent at once.\n".into());
                    }
                    let m = value("message")?;
                    self.set_pub_mode(PubMode::Message(m.into_bytes()))?;
                }
                "-M" => {
                    let v = atoi(&value("max_inflight")?);
                    if v < 1 {
                        return invalid("Error: Maximum inflight messages must be greater than 0.\n".into());
                    }
                    self.max_inflight = v.min(65535) as u16;
                }
                "--nodelay" => {
                    self.nodelay = true;
                    takes_value = false;
                }
                "-n" | "--null-message" if tool != Tool::Sub => {
                    self.set_pub_mode(PubMode::Null)?;
                    takes_value = false;
                }
                "-N" if tool != Tool::Pub => {
                    self.eol = false;
                    takes_value = false;
                }
                "-p" | "--port" => {
                    let v = atoi(&value("port")?);
                    if !(0..=65535).contains(&v) {
                        return Err(ParseError::Invalid(format!("Error: Invalid port given: {v}")));
                    }
                    self.port = Some(v as u16);
                }
                "--pretty" if tool != Tool::Pub => {
                    self.pretty = true;
                    takes_value = false;
                }
                "-P" | "--pw" => self.password = Some(value("password")?),
                "--proxy" => return invalid("Error: --proxy is not supported.".into()),
                "--psk" | "--psk-identity" => {
                    return invalid(format!("Error: {arg} is not supported (rustls has no TLS-PSK)."));
                }
                "-q" | "--qos" => {
                    let v = atoi(&value("QoS")?);
                    self.qos = QoS::from_u8(u8::try_from(v).unwrap_or(u8::MAX))
                        .ok_or_else(|| ParseError::Invalid(format!("Error: Invalid QoS given: {v}")))?;
                }
                "--quiet" => {
                    self.quiet = true;
                    takes_value = false;
                }
                "-r" | "--retain" if tool == Tool::Pub => {
                    self.retain = true;
                    takes_value = false;
                }
                "-R" if tool != Tool::Pub => {
                    self.no_retain = true;
                    takes_value = false;
                }
                "--random-filter" if tool == Tool::Sub => {
                    let v = value("chance")?.trim().parse::<f64>().unwrap_or(0.0);
                    let per_10k = (v * 100.0) as i64;
                    if !(1..=10_000).contains(&per_10k) {
                        return invalid("Error: --random-filter chance must be between 0.1-100.0\n".into());
                    }
                    self.random_filter = per_10k as u32;
                }
                "--remove-retained" if tool == Tool::Sub => {
                    self.remove_retained = true;
                    takes_value = false;
                }
                "--repeat" if tool == Tool::Pub => {
                    let v = atoi(&value("count")?);
                    if v < 1 {
                        return invalid("Error: --repeat argument must be >0.\n".into());
                    }
                    self.repeat_count = v as u32;
                }
                "--repeat-delay" if tool == Tool::Pub => {
                    let v = value("time")?.trim().parse::<f64>().unwrap_or(0.0);
                    if v < 0.0 || !v.is_finite() {
                        return invalid("Error: --repeat-delay argument must be >=0.0.\n".into());
                    }
                    self.repeat_delay = Duration::from_secs_f64(v);
                }
                "--retain-as-published" if tool != Tool::Pub => {
                    self.retain_as_published = true;
                    takes_value = false;
                }
                "--retained-only" if tool == Tool::Sub => {
                    self.retained_only = true;
                    takes_value = false;
                }
                "-s" | "--stdin-file" if tool != Tool::Sub => {
                    self.set_pub_mode(PubMode::StdinFile)?;
                    takes_value = false;
                }
                "-t" | "--topic" => {
                    let t = value("topic")?;
                    self.add_topic(&t)?;
                }
                "-T" | "--filter-out" if tool == Tool::Sub => {
                    let t = value("topic filter")?;
                    if validate_topic_filter(&t).is_err() {
                        return invalid(format!(
                            "Error: Invalid filter topic '{t}', are all '+' and '#' wildcards correct?"
                        ));
                    }
                    self.filter_outs.push(t);
                }
                "--tls-alpn" => self.tls_alpn = Some(value("protocol")?),
                "--tls-use-os-certs" => {
                    self.tls_use_os_certs = true;
                    takes_value = false;
                }
                "--tls-version" => self.tls_version = Some(value("version")?),
                "-U" | "--unsubscribe" if tool == Tool::Sub => {
                    let t = value("unsubscribe topic")?;
                    if validate_topic_filter(&t).is_err() {
                        return invalid(format!(
                            "Error: Invalid unsubscribe topic '{t}', are all '+' and '#' wildcards correct?"
                        ));
                    }
                    self.unsub_topics.push(t);
                }
                "-u" | "--username" => self.username = Some(value("username")?),
                "--unix" => {
                    let path = value("socket path")?;
                    self.unix_socket = Some(path);
                    self.port = Some(0);
                }
                "-V" | "--protocol-version" => {
                    let v = args.get(i + 1).ok_or_else(|| {
                        ParseError::Invalid(
                            "Error: --protocol-version argument given but no version specified.\n".into(),
                        )
                    })?;
                    self.version = match v.as_str() {
                        "mqttv31" | "31" => ProtocolVersion::V31,
                        "mqttv311" | "311" => ProtocolVersion::V311,
                        "mqttv5" | "5" => ProtocolVersion::V5,
                        _ => return invalid("Error: Invalid protocol version argument given.\n".into()),
                    };
                }
                "-v" | "--verbose" if tool != Tool::Pub => {
                    self.verbose = true;
                    takes_value = false;
                }
                "-W" if tool != Tool::Pub => {
                    let v = atoi(&value("timeout")?);
                    if v < 1 {
                        return invalid(format!("Error: Invalid timeout \"{v}\".\n"));
                    }
                    self.timeout = v as u32;
                }
                "--will-payload" => {
                    self.will_payload = Some(value("will payload")?.into_bytes());
                }
                "--will-qos" => {
                    let v = atoi(&value("will QoS")?);
                    self.will_qos = QoS::from_u8(u8::try_from(v).unwrap_or(u8::MAX))
                        .ok_or_else(|| ParseError::Invalid(format!("Error: Invalid will QoS {v}.\n")))?;
                }
                "--will-retain" => {
                    self.will_retain = true;
                    takes_value = false;
                }
                "--will-topic" => {
                    let t = value("will topic")?;
                    if validate_topic_name(&t).is_err() {
                        return invalid(format!(
                            "Error: Invalid will topic '{t}', does it contain '+' or '#'?"
                        ));
                    }
                    self.will_topic = Some(t);
                }
                "--ws" => {
                    self.websockets = true;
                    takes_value = false;
                }
                "-x" => {
                    let v = value("session expiry interval")?;
                    self.session_expiry = parse_session_expiry(&v).map_err(ParseError::Invalid)?;
                }
                _ => return unknown(),
            }
            i += if takes_value { 2 } else { 1 };
        }
        Ok(())
    }

    /// `-D command identifier value` (`user-property` takes a name and a value); returns how many
    /// arguments it used.
    fn parse_property(&mut self, rest: &[String]) -> Result<usize, ParseError> {
        let invalid = |m: &str| Err(ParseError::Invalid(m.to_owned()));
        let (Some(command), Some(name)) = (rest.first(), rest.get(1)) else {
            return invalid("Error: --property argument given but not enough arguments specified.\n");
        };
        let Some(cx) = props::command_context(command) else {
            return invalid("Error: Invalid command given in --property argument.\n");
        };
        let Some(pid) = props::property_id(name) else {
            return invalid("Error: Invalid property name given in --property argument.\n");
        };
        if !props::allowed(pid, cx) {
            return Err(ParseError::Invalid(format!(
                "Error: {name} property not allowed for {command} in --property argument.\n"
            )));
        }
        if cx == PropertyContext::Auth {
            return Err(ParseError::Invalid(format!(
                "Error: {name} property not supported for {command} in --property argument.\n"
            )));
        }
        let user = pid == tern_codec::properties::id::USER_PROPERTY;
        let needed = if user { 4 } else { 3 };
        if rest.len() < needed {
            return invalid("Error: --property argument given but not enough arguments specified.\n");
        }
        let target = match cx {
            PropertyContext::Connect => &mut self.connect_props,
            PropertyContext::Publish => &mut self.publish_props,
            PropertyContext::Subscribe => &mut self.subscribe_props,
            PropertyContext::Unsubscribe => &mut self.unsubscribe_props,
            PropertyContext::Disconnect => &mut self.disconnect_props,
            PropertyContext::Will => &mut self.will_props,
            _ => &mut self.connect_props,
        };
        let value2 = if user { Some(rest[3].as_str()) } else { None };
        props::set(target, cx, pid, name, &rest[2], value2).map_err(ParseError::Invalid)?;
        Ok(needed)
    }

    /// `-L mqtt(s)://[username[:password]@]host[:port]/topic` (also `ws://` and `wss://`).
    fn parse_url(&mut self, url: &str) -> Result<(), ParseError> {
        let lower = url.to_ascii_lowercase();
        let (rest, port, tls, ws) = if lower.starts_with("mqtt://") {
            (&url[7..], 1883, false, false)
        } else if lower.starts_with("mqtts://") {
            (&url[8..], 8883, true, false)
        } else if lower.starts_with("ws://") {
            (&url[5..], 1883, false, true)
        } else if lower.starts_with("wss://") {
            (&url[6..], 8883, true, true)
        } else {
            return Err(ParseError::Invalid("Error: Unsupported URL scheme.\n".into()));
        };
        self.port = Some(port);
        if tls {
            self.tls_use_os_certs = true;
        }
        self.websockets |= ws;
        let Some((authority, topic)) = rest.split_once('/') else {
            return Err(ParseError::Invalid(
                "Error: Invalid URL for -L argument specified - topic missing.".into(),
            ));
        };
        self.add_topic(topic)?;
        let host_port = match authority.split_once('@') {
            Some((userinfo, host_port)) => {
                match userinfo.split_once(':') {
                    Some((user, pass)) => {
                        self.username = Some(user.to_owned());
                        self.password = Some(pass.to_owned());
                    }
                    None => self.username = Some(userinfo.to_owned()),
                }
                host_port
            }
            None => authority,
        };
        match host_port.split_once(':') {
            Some((host, port)) => {
                self.host = Some(host.to_owned());
                self.port = Some(atoi(port).clamp(0, 65535) as u16);
            }
            None => self.host = Some(host_port.to_owned()),
        }
        Ok(())
    }

    /// The port to connect to: as given, else 8883 with a CA file or directory, else 1883.
    pub fn effective_port(&self) -> u16 {
        match self.port {
            Some(p) => p,
            None if self.cafile.is_some() || self.capath.is_some() => 8883,
            None => 1883,
        }
    }

    /// The error mosquitto's clients report before connecting when the TLS settings cannot be used
    /// (libmosquitto's `mosquitto_tls_set` opens the CA, certificate and key files; `mosquitto_tls_opts_set`
    /// knows the versions `tlsv1.3`, `tlsv1.2` and `tlsv1.1`).
    pub fn tls_setup_error(&self) -> Option<&'static str> {
        if self.cafile.is_some() || self.capath.is_some() {
            let files = [&self.cafile, &self.certfile, &self.keyfile];
            if files.into_iter().flatten().any(|f| std::fs::File::open(f).is_err()) {
                return Some("Error: Problem setting TLS options: File not found.");
            }
        }
        if self.tls_version.as_deref().is_some_and(|v| !matches!(v, "tlsv1.3" | "tlsv1.2" | "tlsv1.1")) {
            return Some("Error: Problem setting TLS options, check the options are valid.");
        }
        None
    }

    fn tls_options(&self) -> Option<TlsOptions> {
        let port = self.effective_port();
        let wanted = self.cafile.is_some() || self.capath.is_some() || self.tls_use_os_certs || port == 8883;
        wanted.then(|| TlsOptions {
            ca_file: self.cafile.clone(),
            ca_path: self.capath.clone(),
            native_roots: self.tls_use_os_certs || (self.cafile.is_none() && self.capath.is_none()),
            client_cert: self.certfile.clone().zip(self.keyfile.clone()),
            insecure: self.insecure,
            // `--tls-version` is the lowest version, as libmosquitto takes it; the library's is the only one.
            version: self.tls_version.clone().filter(|v| v == "tlsv1.3"),
            alpn: self.tls_alpn.clone(),
        })
    }

    /// The client identifier: `-i`, `-I` plus the process id, or empty (the server assigns one) — except
    /// for MQTT 3.1, which does not allow an empty identifier.
    pub fn client_id(&self) -> String {
        if let Some(id) = &self.id {
            return id.clone();
        }
        if let Some(prefix) = &self.id_prefix {
            return format!("{prefix}{}", std::process::id());
        }
        if self.version == ProtocolVersion::V31 {
            return format!("{}{}", self.tool.client_id_prefix(), std::process::id());
        }
        String::new()
    }

    /// The client library's options for this configuration.
    pub fn connect_options(&self) -> ConnectOptions {
        let host = self.host.clone().unwrap_or_else(|| "localhost".to_owned());
        let port = self.effective_port();
        let mut o = ConnectOptions::new(host, port)
            .version(self.version)
            .client_id(self.client_id())
            .clean_start(self.clean_session)
            .keep_alive(self.keepalive)
            .max_inflight(self.max_inflight);
        o.bind_address = self.bind_address.clone();
        // As libmosquitto: a QoS 2 message is printed once its exchange is complete.
        o.deliver_qos2_at_pubrel = true;
        o.nodelay = self.nodelay;
        o.connect.properties = self.connect_props.clone();
        if self.version.is_v5() && self.msg_count > 0 && self.msg_count < 20 {
            // Receive no more messages than will be printed before exiting.
            o.connect.properties.receive_maximum.get_or_insert(self.msg_count as u16);
        }
        if let Some(u) = &self.username {
            o.connect.username = Some(u.as_str().into());
        }
        if let Some(p) = &self.password {
            o.connect.password = Some(p.clone().into_bytes().into());
        }
        if let Some(topic) = &self.will_topic {
            o.connect.will = Some(LastWill {
                topic: topic.as_str().into(),
                payload: self.will_payload.clone().unwrap_or_default().into(),
                qos: self.will_qos,
                retain: self.will_retain,
                properties: self.will_props.clone(),
            });
        }
        let tls = self.tls_options();
        o.transport = match (&self.unix_socket, self.websockets, tls) {
            (Some(path), _, _) => Transport::Unix(path.into()),
            (None, true, Some(tls)) => Transport::Wss { path: "/mqtt".into(), tls },
            (None, true, None) => Transport::Ws { path: "/mqtt".into() },
            (None, false, Some(tls)) => Transport::Tls(tls),
            (None, false, None) => Transport::Tcp,
        };
        o
    }
}

/// C's `atoi`: leading blanks, an optional sign, digits; anything else ends the number (0 if none).
pub fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// `-x`: 0..=4294967295 seconds, with -1 and `∞` meaning never.
fn parse_session_expiry(v: &str) -> Result<i64, String> {
    if v == "∞" {
        return Ok(i64::from(u32::MAX));
    }
    let n = v.parse::<i64>().map_err(|_| "Error: session-expiry-interval not a number.\n".to_owned())?;
    if n > i64::from(u32::MAX) || n < -1 {
        return Err("Error: session-expiry-interval out of range.\n".into());
    }
    Ok(if n == -1 { i64::from(u32::MAX) } else { n })
}

fn defaults_path(tool: Tool) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(dir).join(tool.defaults_file()));
    }
    let home = std::env::var_os("HOME")?;
    Some(PathBuf::from(home).join(".config").join(tool.defaults_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tool: Tool, args: &[&str]) -> Result<ClientConfig, ParseError> {
        let mut cfg = ClientConfig::new(tool);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        cfg.parse_args(&args)?;
        cfg.check()?;
        Ok(cfg)
    }

    fn err(tool: Tool, args: &[&str]) -> String {
        match parse(tool, args) {
            Err(ParseError::Invalid(m)) => m.trim_end().to_owned(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_mosquitto() {
        let c = parse(Tool::Sub, &["-t", "a"]).unwrap();
        assert_eq!(
            (c.keepalive, c.qos, c.version, c.effective_port()),
            (60, QoS::AtMostOnce, ProtocolVersion::V311, 1883)
        );
        assert!(c.clean_session && c.eol);
        let r = parse(Tool::Rr, &["-t", "a"]).unwrap();
        assert_eq!((r.version, r.msg_count), (ProtocolVersion::V5, 1));
    }

    #[test]
    fn version_names_and_numbers() {
        for (v, want) in
            [("31", ProtocolVersion::V31), ("mqttv311", ProtocolVersion::V311), ("5", ProtocolVersion::V5)]
        {
            assert_eq!(parse(Tool::Pub, &["-V", v]).unwrap().version, want);
        }
        assert_eq!(err(Tool::Pub, &["-V", "4"]), "Error: Invalid protocol version argument given.");
    }

    #[test]
    fn errors_read_as_mosquitto_writes_them() {
        assert_eq!(err(Tool::Pub, &["-q", "3"]), "Error: Invalid QoS given: 3");
        assert_eq!(err(Tool::Pub, &["-z"]), "Error: Unknown option '-z'.");
        assert_eq!(err(Tool::Pub, &["-v"]), "Error: Unknown option '-v'.");
        assert_eq!(err(Tool::Sub, &["-m", "x", "-t", "a"]), "Error: Unknown option '-m'.");
        assert_eq!(err(Tool::Pub, &["-h"]), "Error: -h argument given but no host specified.");
        assert_eq!(
            err(Tool::Pub, &["-t", "a/+"]),
            "Error: Invalid publish topic 'a/+', does it contain '+' or '#'?"
        );
        assert_eq!(
            err(Tool::Sub, &["-t", "a/#/b"]),
            "Error: Invalid subscription topic 'a/#/b', are all '+' and '#' wildcards correct?"
        );
        assert_eq!(err(Tool::Sub, &[]), "Error: You must specify a topic to subscribe to.");
        assert_eq!(err(Tool::Sub, &["-U", "a"]), "Error: You must specify a topic to subscribe to.");
        assert_eq!(
            err(Tool::Sub, &["-t", "a", "-c"]),
            "Error: You must provide a client id if you are using the -c option."
        );
        assert_eq!(
            err(Tool::Pub, &["-m", "a", "-n"]),
            "Error: Only one type of message can be sent at once."
        );
        assert_eq!(
            err(Tool::Pub, &["-i", "a", "-I", "b"]),
            "Error: -i and -I argument cannot be used together."
        );
        assert_eq!(
            err(Tool::Pub, &["-k", "4"]),
            "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive."
        );
        assert_eq!(err(Tool::Sub, &["-t", "a", "-C", "0"]), "Error: Invalid message count \"0\".");
        assert_eq!(
            err(Tool::Pub, &["--will-payload", "x"]),
            "Error: Will payload given, but no will topic given."
        );
        assert_eq!(err(Tool::Sub, &["-t", "a", "-F", "%z"]), "Error: Invalid format specifier 'z'.");
        assert_eq!(err(Tool::Sub, &["-t", "a", "-x", "abc"]), "Error: session-expiry-interval not a number.");
    }

    #[test]
    fn url_sets_credentials_host_port_and_topic() {
        let c = parse(Tool::Pub, &["-L", "mqtts://u:p@example.com:8884/home/temp"]).unwrap();
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.password.as_deref(), Some("p"));
        assert_eq!(c.host.as_deref(), Some("example.com"));
        assert_eq!(c.effective_port(), 8884);
        assert_eq!(c.topics, vec!["home/temp"]);
        assert!(matches!(c.connect_options().transport, Transport::Tls(_)));
        assert_eq!(err(Tool::Pub, &["-L", "http://x/t"]), "Error: Unsupported URL scheme.");
    }

    #[test]
    fn port_8883_implies_tls_with_os_roots() {
        let c = parse(Tool::Pub, &["-p", "8883"]).unwrap();
        match c.connect_options().transport {
            Transport::Tls(t) => assert!(t.native_roots),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(Tool::Pub, &["-p", "1883"]).unwrap().connect_options().transport,
            Transport::Tcp
        ));
        let c = parse(Tool::Pub, &["--cafile", "ca.pem"]).unwrap();
        assert_eq!(c.effective_port(), 8883);
    }

    #[test]
    fn tls_version_names_the_lowest_version_as_libmosquitto_does() {
        let version = |v: &str| match parse(Tool::Pub, &["-p", "8883", "--tls-version", v]) {
            Ok(c) => match c.connect_options().transport {
                Transport::Tls(t) => t.version,
                other => panic!("{other:?}"),
            },
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(version("tlsv1.3").as_deref(), Some("tlsv1.3"));
        assert_eq!(version("tlsv1.2"), None);
        assert_eq!(version("tlsv1.1"), None);
        let unknown = parse(Tool::Pub, &["--tls-version", "tlsv1.0"]).unwrap();
        assert_eq!(
            unknown.tls_setup_error(),
            Some("Error: Problem setting TLS options, check the options are valid.")
        );
    }

    #[test]
    fn property_flag_switches_to_v5_and_fills_the_packet_properties() {
        let c = parse(
            Tool::Pub,
            &[
                "-D",
                "publish",
                "user-property",
                "k",
                "v",
                "-D",
                "connect",
                "session-expiry-interval",
                "30",
                "-t",
                "a",
            ],
        )
        .unwrap();
        assert_eq!(c.version, ProtocolVersion::V5);
        assert_eq!(c.publish_props.user_properties, vec![("k".into(), "v".into())]);
        assert_eq!(c.connect_props.session_expiry_interval, Some(30));
        assert!(err(Tool::Pub, &["-D", "connect", "content-type", "x"]).contains("not allowed"));
    }

    #[test]
    fn persistent_v5_session_without_expiry_never_expires_and_needs_an_id() {
        let c = parse(Tool::Sub, &["-t", "a", "-c", "-V", "5", "-i", "me"]).unwrap();
        assert_eq!(c.connect_props.session_expiry_interval, Some(u32::MAX));
        assert_eq!(
            err(Tool::Sub, &["-t", "a", "-c", "-V", "5"]),
            "Error: You must provide a client id if you are using an infinite session expiry interval."
        );
    }

    #[test]
    fn receive_maximum_follows_a_small_message_count() {
        let c = parse(Tool::Sub, &["-t", "a", "-V", "5", "-C", "3"]).unwrap();
        assert_eq!(c.connect_options().connect.properties.receive_maximum, Some(3));
    }

    #[test]
    fn atoi_reads_like_c() {
        assert_eq!((atoi("12abc"), atoi(" -3"), atoi("x"), atoi("+7")), (12, -3, 0, 7));
    }
}
