//! The `--resources` flag: either the text form
//! `cpus:4;mem:4096;ports:[31000-32000];disk(role1):1000` or a JSON array of Mesos `Resource`
//! objects (needed for disk sources and other details the text form cannot say).

use super::resource::{Reservation, Resource, ResourceValue};
use super::{ResourceError, Resources};
use crate::roles::{self, STAR};
use crate::values::{Value, ValueParseError, parse_value};

/// Parses a `--resources` value, as JSON when it is a JSON array and as text otherwise.
///
/// In the text form each `;`-separated token is `name:value` or `name(role):value`. A resource
/// without a role gets `default_role` (`*` means unreserved). The result is validated as a
/// command-line resource list: no dynamic reservations, volumes or revocable resources, and
/// one value type per name.
pub fn parse_flag_text(text: &str, default_role: &str) -> Result<Resources, ResourceError> {
    let list = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json @ serde_json::Value::Array(_)) => parse_json_list(&json, default_role)?,
        _ => {
            let mut list = Vec::new();
            for token in text.split(';').filter(|t| !t.trim().is_empty()) {
                list.push(parse_token(token, default_role)?);
            }
            list
        }
    };
    check_command_line(&list)?;
    Ok(list.into_iter().collect())
}

#[allow(deprecated)] // The legacy `role` field is how JSON input names a static reservation.
fn parse_json_list(
    json: &serde_json::Value,
    default_role: &str,
) -> Result<Vec<Resource>, ResourceError> {
    let wire = crate::json::list_from_value::<crate::proto::v1::Resource>(json)
        .map_err(|e| ResourceError::Json(e.to_string()))?;
    let mut list = Vec::with_capacity(wire.len());
    for mut r in wire {
        if r.role.is_none() && r.reservations.is_empty() {
            r.role = Some(default_role.to_string());
        }
        list.push(super::convert::resource_from_proto(&r)?);
    }
    Ok(list)
}

fn parse_token(token: &str, default_role: &str) -> Result<Resource, ResourceError> {
    let fields: Vec<&str> = token.split(':').filter(|f| !f.is_empty()).collect();
    if fields.len() != 2 {
        return Err(ResourceError::NotNameValue(token.trim().to_string()));
    }
    let (head, text) = (fields[0], fields[1]);
    let (name, role) = match head.find('(') {
        None => (head.trim(), default_role.to_string()),
        Some(open) => {
            let close = head
                .find(')')
                .filter(|close| *close > open && head[close + 1..].trim().is_empty())
                .ok_or_else(|| ResourceError::MismatchedParentheses(token.trim().to_string()))?;
            (
                head[..open].trim(),
                head[open + 1..close].trim().to_string(),
            )
        }
    };
    if name.is_empty() {
        return Err(ResourceError::EmptyName(token.trim().to_string()));
    }
    roles::validate_role(&role).map_err(|source| ResourceError::Role {
        name: name.to_string(),
        source,
    })?;
    let value = match parse_value(text) {
        Ok(Value::Scalar(s)) => ResourceValue::Scalar(s),
        Ok(Value::Ranges(r)) => ResourceValue::Ranges(r),
        Ok(Value::Set(s)) => ResourceValue::Set(s),
        Ok(Value::Text(t)) => {
            let error = match t.parse::<f64>() {
                Ok(n) if n < 0.0 => Some(ValueParseError::Negative(t.clone())),
                Ok(_) => Some(ValueParseError::NotFinite(t.clone())),
                Err(_) => None,
            };
            return Err(match error {
                Some(source) => ResourceError::Value {
                    name: name.to_string(),
                    source,
                },
                None => ResourceError::TextValue {
                    name: name.to_string(),
                    text: t,
                },
            });
        }
        Err(source) => {
            return Err(ResourceError::Value {
                name: name.to_string(),
                source,
            });
        }
    };
    let mut resource = Resource::new(name, value);
    if role != STAR {
        resource.reservations.push(Reservation::static_to(role));
    }
    Ok(resource)
}

/// The checks Mesos applies to resources given on an agent's command line.
pub(crate) fn check_command_line(list: &[Resource]) -> Result<(), ResourceError> {
    let mut types = std::collections::HashMap::new();
    for r in list {
        if r.is_persistent_volume() {
            return Err(ResourceError::CommandLine(format!(
                "persistent volume '{}' cannot be given on the command line",
                r.name
            )));
        }
        if r.revocable {
            return Err(ResourceError::CommandLine(format!(
                "revocable resource '{}' cannot be given on the command line",
                r.name
            )));
        }
        if r.reservations
            .iter()
            .any(|x| x.kind == super::ReservationKind::Dynamic)
        {
            return Err(ResourceError::CommandLine(format!(
                "dynamic reservation of '{}' cannot be given on the command line",
                r.name
            )));
        }
        let kind = r.value.value_type();
        if let Some(previous) = types.insert(r.name.as_str(), kind)
            && previous != kind
        {
            return Err(ResourceError::MixedTypes {
                name: r.name.to_string(),
                first: previous,
                second: kind,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::Scalar;

    #[test]
    fn parses_the_flag_example() {
        let r =
            parse_flag_text("cpus:4;mem:4096;ports:[31000-32000];disk(role1):1000", "*").unwrap();
        assert_eq!(r.cpus(), Some(Scalar::from_units(4)));
        assert_eq!(r.mem(), Some(Scalar::from_units(4096)));
        assert_eq!(r.ports().unwrap().to_string(), "[31000-32000]");
        assert_eq!(
            r.reserved(Some("role1")).disk(),
            Some(Scalar::from_units(1000))
        );
        assert_eq!(r.unreserved().disk(), None);
        assert_eq!(
            r.to_string(),
            "cpus:4; mem:4096; ports:[31000-32000]; disk(reservations: [(STATIC,role1)]):1000"
        );
    }

    #[test]
    fn merges_repeated_names_and_uses_the_default_role() {
        let r = parse_flag_text("cpus:1; cpus:2.5 ;mem(*):10", "web").unwrap();
        assert_eq!(
            r.reserved(Some("web")).cpus(),
            Some(Scalar::from_milli(3500))
        );
        assert_eq!(r.unreserved().mem(), Some(Scalar::from_units(10)));
    }

    #[test]
    fn parses_the_json_form() {
        let text = r#"[
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": 100}, "role": "web",
             "disk": {"source": {"type": "MOUNT", "mount": {"root": "/mnt/d1"}}}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 9}]}}
        ]"#;
        let r = parse_flag_text(text, "batch").unwrap();
        assert_eq!(
            r.reserved(Some("batch")).cpus(),
            Some(Scalar::from_units(2))
        );
        let disk = r.reserved(Some("web"));
        let d = disk.iter().next().unwrap();
        assert_eq!(
            d.disk
                .as_ref()
                .unwrap()
                .source
                .as_ref()
                .unwrap()
                .root
                .as_deref(),
            Some("/mnt/d1")
        );
        assert_eq!(
            r.reserved(Some("batch")).ports().unwrap().to_string(),
            "[1-9]"
        );
    }

    #[test]
    fn json_form_errors_name_the_problem() {
        assert_eq!(
            parse_flag_text(r#"[{"name": "cpus", "type": "SCALAR"}]"#, "*")
                .unwrap_err()
                .to_string(),
            "invalid resource 'cpus': type SCALAR needs 'scalar' and no other value"
        );
        assert_eq!(
            parse_flag_text(r#"[{"name": "cpus", "scalar": {"value": 1}}]"#, "*")
                .unwrap_err()
                .to_string(),
            "invalid resources JSON: missing required field 'type'"
        );
        assert_eq!(
            parse_flag_text(
                r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "revocable": {}}]"#,
                "*"
            )
            .unwrap_err()
            .to_string(),
            "revocable resource 'cpus' cannot be given on the command line"
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            ("cpus", "expected 'name:value' in resource 'cpus'"),
            ("cpus:1:2", "expected 'name:value' in resource 'cpus:1:2'"),
            (
                "cpus(web:1",
                "mismatched parentheses in resource 'cpus(web:1'",
            ),
            (":1", "expected 'name:value' in resource ':1'"),
            ("(web):1", "empty resource name in '(web):1'"),
            (
                "cpus:-1",
                "bad value for resource 'cpus': negative value '-1' is not allowed",
            ),
            (
                "cpus:inf",
                "bad value for resource 'cpus': value 'inf' is not a finite number in range",
            ),
            (
                "cpus:lots",
                "resource 'cpus' has text value 'lots'; resources must be scalars, ranges or sets",
            ),
            (
                "ports:[5-1]",
                "bad value for resource 'ports': invalid range [5-1]: begin is greater than end",
            ),
            (
                "cpus(a b):1",
                "bad role for resource 'cpus': role component 'a b' is invalid because it contains backspace or whitespace",
            ),
            (
                "x:1;x:[1-2]",
                "resource 'x' is given as both SCALAR and RANGES",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(
                parse_flag_text(text, "*").unwrap_err().to_string(),
                message,
                "{text}"
            );
        }
    }
}
