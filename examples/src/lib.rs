//! Helpers shared by the examples in this directory.

/// Reads `--name value` or `--name=value` from the command line, or returns `default`.
pub fn flag(args: &[String], name: &str, default: &str) -> String {
    let long = format!("--{name}");
    let with_eq = format!("--{name}=");
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if let Some(value) = arg.strip_prefix(&with_eq) {
            return value.to_string();
        }
        if *arg == long
            && let Some(value) = iter.next()
        {
            return value.clone();
        }
    }
    default.to_string()
}
