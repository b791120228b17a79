//! `--help` of `tern pub`, `tern sub` and `tern rr`: mosquitto's usage text, for Tern.

use crate::client_opts::Tool;

const COMMON: &str = " -A : bind the outgoing socket to this host/ip address. Use to control which interface
      the client communicates over.
 -c : disable clean session/enable persistent client mode
      When this argument is used, the broker will be instructed not to clean existing sessions
      for the same client id when the client connects, and sessions will never expire when the
      client disconnects. MQTT v5 clients can change their session expiry interval with the -x
      argument.
 -d : enable debug messages.
 -D : Define MQTT v5 properties: -D COMMAND IDENTIFIER VALUE, where COMMAND is connect, publish,
      subscribe, unsubscribe, disconnect or will, IDENTIFIER a property name such as content-type
      or message-expiry-interval; user-property takes a name and a value.
 -h : mqtt host to connect to. Defaults to localhost.
 -i : id to use for this client. Defaults to an id assigned by the broker.
 -I : define the client id as id_prefix appended with the process id. Useful for when the
      broker is using the clientid_prefixes option.
 -k : keep alive in seconds for this client. Defaults to 60.
 -L : specify user, password, hostname, port and topic as a URL in the form:
      mqtt(s)://[username[:password]@]host[:port]/topic (also ws:// and wss://)
 -M : the maximum inflight messages for QoS 1/2. Defaults to 20.
 -p : network port to connect to. Defaults to 1883 for plain MQTT and 8883 for MQTT over TLS.
 -P : provide a password
 -u : provide a username
 -x : Set the session-expiry-interval property on the CONNECT packet. Applies to MQTT v5
      clients only. Set to 0-4294967294 to specify the session will expire in that many
      seconds after the client disconnects, or use -1, 4294967295, or ∞ for a session
      that does not expire. Defaults to -1 if -c is also given, or 0 if -c not given.
 --help : display this message.
 --nodelay : disable Nagle's algorithm, to reduce socket sending latency at the possible
             expense of more packets being sent.
 --quiet : don't print error messages.
 --unix : connect to a broker through a unix domain socket instead of a TCP socket,
          e.g. /tmp/mosquitto.sock
 --will-payload : payload for the client Will, which is sent by the broker in case of
                  unexpected disconnection. If not given and will-topic is set, a zero
                  length message will be sent.
 --will-qos : QoS level for the client Will.
 --will-retain : if given, make the client Will retained.
 --will-topic : the topic on which to publish the client Will.
 --ws : connect over WebSocket (path /mqtt).
 --cafile : path to a file containing trusted CA certificates to enable encrypted
            communication.
 --capath : path to a directory containing trusted CA certificates to enable encrypted
            communication (every PEM file in it; hashed names are not needed).
 --cert : client certificate for authentication, if required by server.
 --key : client private key for authentication, if required by server.
 --ciphers : accepted for compatibility; rustls uses its own safe cipher suites.
 --tls-alpn : TLS ALPN protocol to offer.
 --tls-version : lowest TLS protocol version, can be one of tlsv1.3 tlsv1.2 or tlsv1.1.
                 tlsv1.3 allows only TLS 1.3; the others (and the default) 1.2 and 1.3.
 --tls-use-os-certs : Load and trust OS provided CA certificates. Port 8883 and mqtts://
                      URLs do this when no --cafile or --capath is given.
 --insecure : do not check that the server certificate hostname matches the remote
              hostname. Using this option means that you cannot be sure that the
              remote host is the server you wish to connect to and so is insecure.
              Do not use this option in a production environment.
";

const TLS_USAGE: &str = "[{--cafile file | --capath dir} [--cert file] [--key file]
                       [--insecure] [--tls-alpn protocol] [--tls-version version]]
                       [--tls-use-os-certs]";

/// The usage text of `tool`.
pub fn usage(tool: Tool) -> String {
    let version = env!("CARGO_PKG_VERSION");
    match tool {
        Tool::Pub => format!(
            "tern pub is a simple mqtt client that will publish a message on a single topic and exit.
tern pub version {version}, compatible with mosquitto_pub 2.0.

Usage: tern pub {{[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}}
                {{-f file | -l | -n | -m message | -s}}
                [-c] [-k keepalive] [-q qos] [-r] [--repeat N] [--repeat-delay time] [-x session-expiry]
                [-A bind_address] [--nodelay] [--ws]
                [-i id] [-I id_prefix]
                [-d] [--quiet]
                [-M max_inflight]
                [-V protocol_version]
                [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                {TLS_USAGE}
                [-D command identifier value]
       tern pub --help

{COMMON} -f : send the contents of a file as the message.
 -l : read messages from stdin, sending a separate message for each line.
 -m : message payload to send.
 -n : send a null (zero length) message.
 -q : quality of service level to use for all messages. Defaults to 0.
 -r : message should be retained.
 -s : read message from stdin, sending the entire input as a message.
 -t : mqtt topic to publish to.
 -V : specify the version of the MQTT protocol to use when connecting.
      Can be mqttv5, mqttv311 or mqttv31 (or 5, 311, 31). Defaults to mqttv311.
 --repeat : if publish mode is -f, -m, or -s, then repeat the publish N times.
 --repeat-delay : if using --repeat, wait time seconds between publishes. Defaults to 0.

Defaults are read from $XDG_CONFIG_HOME/tern_pub (or ~/.config/tern_pub): one option per line.
"
        ),
        Tool::Sub => format!(
            "tern sub is a simple mqtt client that will subscribe to a set of topics and print all messages it receives.
tern sub version {version}, compatible with mosquitto_sub 2.0.

Usage: tern sub {{[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL [-t topic]}}
                [-c] [-k keepalive] [-q qos] [-x session-expiry-interval]
                [-C msg_count] [-E] [-R] [--retained-only] [--remove-retained] [-T filter_out] [-U topic ...]
                [-F format]
                [-W timeout_secs]
                [-A bind_address] [--nodelay] [--ws]
                [-i id] [-I id_prefix]
                [-d] [-N] [--quiet] [-v]
                [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]
                {TLS_USAGE}
                [-D command identifier value]
       tern sub --help

{COMMON} -C : disconnect and exit after receiving the 'msg_count' messages.
 -E : Exit once all subscriptions have been acknowledged by the broker.
 -F : output format (see below).
 -N : do not add an end of line character when printing the payload.
 -q : quality of service level to use for the subscription. Defaults to 0.
 -R : do not print stale messages (those with retain set).
 -t : mqtt topic to subscribe to. May be repeated multiple times.
 -T : topic string to filter out of results. May be repeated.
 -U : unsubscribe from a topic. May be repeated.
 -v : print published messages verbosely.
 -V : specify the version of the MQTT protocol to use when connecting.
      Can be mqttv5, mqttv311 or mqttv31 (or 5, 311, 31). Defaults to mqttv311.
 -W : Specifies a timeout in seconds how long to process incoming MQTT messages.
 --pretty : print formatted output rather than minimised output when using the
            JSON output format option.
 --random-filter : only print a percentage of received messages. Set to 100 to have all
                   messages printed, 50.0 to have half of the messages received on average
                   printed, and so on.
 --retained-only : only handle messages with the retained flag set, and exit when the
                   first non-retained message is received.
 --remove-retained : send a message to the server to clear any received retained messages
                     Use -T to filter out messages you do not want to be cleared.
 --retain-as-published : (MQTT v5) keep the retain flag of forwarded messages.
{FORMAT}
Defaults are read from $XDG_CONFIG_HOME/tern_sub (or ~/.config/tern_sub): one option per line.
"
        ),
        Tool::Rr => format!(
            "tern rr is an mqtt client that can be used to publish a request message and wait for a response.
             Defaults to MQTT v5, where the Request-Response feature will be used, but v3.1.1 can also be used
             with v3.1.1 brokers.
tern rr version {version}, compatible with mosquitto_rr 2.0.

Usage: tern rr {{[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}} -e response-topic
               {{-f file | -n | -m message | -s}}
               [-c] [-k keepalive] [-q qos] [-R] [-x session-expiry-interval]
               [-F format]
               [-W timeout_secs]
               [-A bind_address] [--nodelay] [--ws]
               [-i id] [-I id_prefix]
               [-d] [-N] [--quiet] [-v]
               [--will-topic [--will-payload payload] [--will-qos qos] [--will-retain]]
               {TLS_USAGE}
               [-D command identifier value]
       tern rr --help

{COMMON} -e : Response topic. The client will subscribe to this topic to wait for a response.
 -F : output format (see below).
 -m : request message payload to send.
 -N : do not add an end of line character when printing the payload.
 -q : quality of service level to use for communications. Defaults to 0.
 -R : do not print stale messages (those with retain set).
 -t : topic where the request message will be sent.
 -v : print received messages verbosely.
 -V : specify the version of the MQTT protocol to use when connecting.
      Defaults to 5.
 -W : Specifies a timeout in seconds how long to wait for a response.
 --pretty : print formatted output rather than minimised output when using the
            JSON output format option.
{FORMAT}
Defaults are read from $XDG_CONFIG_HOME/tern_rr (or ~/.config/tern_rr): one option per line.
"
        ),
    }
}

const FORMAT: &str = "
Output format (-F), as mosquitto_sub:
 %% a literal %          %t topic                  %p payload      %x / %X payload in hex
 %q QoS                  %r retain flag            %l payload length
 %m message id           %I ISO-8601 time          %U Unix time with nanoseconds
 %j JSON of the message, payload escaped   %J JSON of the message, payload is JSON
 MQTT v5 properties: %A topic alias, %C content type, %D correlation data, %E message expiry,
 %F payload format indicator, %P user properties (key:value ...), %R response topic,
 %S subscription identifier.
 Flags after %: - (left align), 0 (zero pad); then a field width and .precision, e.g. %-10.5t.
 @X passes %X to strftime (e.g. @Y-@m-@d), @N nanoseconds, @@ a literal @.
 Escapes: \\\\ \\0 \\a \\e \\n \\r \\t \\v.
";
