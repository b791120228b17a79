//! `tern broker`: the MQTT broker. Its options and configuration belong to the broker library; this module
//! only hands the arguments over.

/// Runs the broker with `args` (everything after `tern broker`); returns the exit status.
pub fn run(args: &[String]) -> i32 {
    let _ = args;
    eprintln!("tern broker: not available yet");
    1
}
