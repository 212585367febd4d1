//! Mesos's JSON mapping of protobuf messages, which differs from proto3's canonical JSON.
//!
//! Mesos writes JSON with its own rules (stout's `JSON::protobuf`), and real clients depend on
//! them: keys are the proto field names in snake_case, enums are written by name, 64-bit
//! integers are plain numbers, bytes are padded standard base64, and an unset optional field
//! that declares an explicit `[default = ...]` (and is not deprecated) is written with that
//! default — `failover_timeout: 0.0`, `refuse_seconds: 5.0`, `shell: true`.
//!
//! Reading is lenient in the ways Mesos is lenient: unknown keys are ignored, `null` means
//! unset, any scalar may arrive as a string (`"42"`, `"true"`, `"Infinity"`), a bare value given
//! for a repeated field counts as a one-element list, and an unknown enum name in an optional or
//! repeated field is dropped. Reading is strict where Mesos is strict: enum numbers, wrong JSON
//! types and missing required fields are errors that name the field.
//!
//! ```
//! use mesos_core::json;
//! use mesos_core::proto::v1::Filters;
//!
//! // `refuse_seconds` has `[default = 5.0]`, so it is written even when unset.
//! assert_eq!(json::to_string(&Filters::default()), r#"{"refuse_seconds":5.0}"#);
//! let parsed: Filters = json::from_str(r#"{"refuse_seconds": "10"}"#).unwrap();
//! assert_eq!(parsed.refuse_seconds, Some(10.0));
//! ```

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as BASE64};
use prost_reflect::{
    Cardinality, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value,
};

/// The bound of every conversion here: messages that know their descriptor (all of
/// `mesos_core::proto`'s).
pub use prost_reflect::ReflectMessage;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value as Json;

/// Reads standard base64 with or without padding, as Mesos's decoder does.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a JSON document could not be read as a message. The path names the field, e.g.
/// `subscribe.framework_info.name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The text is not JSON at all.
    #[error("malformed JSON: {0}")]
    Syntax(String),
    /// A JSON value of the wrong kind for its field.
    #[error("field '{path}': expected {expected}, found {found}")]
    WrongType {
        /// Dotted path of the field.
        path: String,
        /// What the field needs.
        expected: String,
        /// What the JSON held.
        found: String,
    },
    /// A number that does not fit the field's type.
    #[error("field '{path}': {value} is out of range for {ty}")]
    OutOfRange {
        /// Dotted path of the field.
        path: String,
        /// The value given.
        value: String,
        /// The field's type.
        ty: &'static str,
    },
    /// An enum name not defined for a required field, or an enum given as a number.
    #[error("field '{path}': '{value}' is not a value of enum {enum_name}")]
    UnknownEnum {
        /// Dotted path of the field.
        path: String,
        /// The value given.
        value: String,
        /// The enum's full name.
        enum_name: String,
    },
    /// A `bytes` field that is not valid base64.
    #[error("field '{path}': invalid base64: {reason}")]
    Base64 {
        /// Dotted path of the field.
        path: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// A required field that is absent.
    #[error("missing required field '{path}'")]
    MissingRequired {
        /// Dotted path of the field.
        path: String,
    },
    /// The reflected message could not be turned into the typed one.
    #[error("cannot convert to {message}: {reason}")]
    Transcode {
        /// The message's full name.
        message: String,
        /// The decoder's complaint.
        reason: String,
    },
}

/// Writes a message as Mesos JSON.
pub fn to_value<M: ReflectMessage>(message: &M) -> Json {
    dynamic_to_value(&message.transcode_to_dynamic())
}

/// Writes a message as compact Mesos JSON text.
///
/// Streams straight from the reflected message without building a [`Json`] tree; keys come in
/// field declaration order (Mesos sorts them, and JSON readers do not care).
pub fn to_string<M: ReflectMessage>(message: &M) -> String {
    let dynamic = message.transcode_to_dynamic();
    serde_json::to_string(&MesosJson(&dynamic)).unwrap_or_default()
}

/// Writes a message as compact Mesos JSON bytes, for HTTP bodies and RecordIO records.
pub fn to_vec<M: ReflectMessage>(message: &M) -> Vec<u8> {
    let dynamic = message.transcode_to_dynamic();
    serde_json::to_vec(&MesosJson(&dynamic)).unwrap_or_default()
}

/// A reflected message that serialises as Mesos JSON with any serde serializer.
#[derive(Debug, Clone, Copy)]
pub struct MesosJson<'a>(pub &'a DynamicMessage);

impl Serialize for MesosJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.0;
        let mut map = serializer.serialize_map(None)?;
        for field in message.descriptor().fields() {
            if field.is_map() {
                let value = message.get_field(&field);
                if let Value::Map(entries) = value.as_ref()
                    && !entries.is_empty()
                {
                    let value_field = map_value_field(&field);
                    map.serialize_entry(field.name(), &MapJson(entries, &value_field))?;
                }
            } else if field.is_list() {
                let value = message.get_field(&field);
                if let Value::List(items) = value.as_ref()
                    && !items.is_empty()
                {
                    map.serialize_entry(field.name(), &FieldJson(value.as_ref(), &field))?;
                }
            } else if message.has_field(&field) || writes_default(&field) {
                let value = message.get_field(&field);
                map.serialize_entry(field.name(), &FieldJson(value.as_ref(), &field))?;
            }
        }
        map.end()
    }
}

struct MapJson<'a>(&'a HashMap<MapKey, Value>, &'a FieldDescriptor);

impl Serialize for MapJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(&map_key_string(key), &FieldJson(value, self.1))?;
        }
        map.end()
    }
}

struct FieldJson<'a>(&'a Value, &'a FieldDescriptor);

impl Serialize for FieldJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let float = |f: f64, serializer: S| {
            if f.is_finite() {
                serializer.serialize_f64(f)
            } else if f.is_nan() {
                serializer.serialize_str("NaN")
            } else if f > 0.0 {
                serializer.serialize_str("Infinity")
            } else {
                serializer.serialize_str("-Infinity")
            }
        };
        match self.0 {
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::I32(n) => serializer.serialize_i32(*n),
            Value::I64(n) => serializer.serialize_i64(*n),
            Value::U32(n) => serializer.serialize_u32(*n),
            Value::U64(n) => serializer.serialize_u64(*n),
            Value::F32(f) => float(f64::from(*f), serializer),
            Value::F64(f) => float(*f, serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::Bytes(b) => serializer.serialize_str(&BASE64.encode(b)),
            Value::EnumNumber(n) => match self.1.kind() {
                Kind::Enum(e) => match e.get_value(*n) {
                    Some(v) => serializer.serialize_str(v.name()),
                    None => serializer.serialize_i32(*n),
                },
                _ => serializer.serialize_i32(*n),
            },
            Value::Message(m) => MesosJson(m).serialize(serializer),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&FieldJson(item, self.1))?;
                }
                seq.end()
            }
            Value::Map(_) => serializer.serialize_unit(),
        }
    }
}

/// Writes a reflected message as Mesos JSON.
pub fn dynamic_to_value(message: &DynamicMessage) -> Json {
    // The streaming writer is the single definition of the mapping; a `Value` is one more
    // serializer target. Keys come out sorted, as stout writes them.
    serde_json::to_value(MesosJson(message)).unwrap_or(Json::Null)
}

/// An unset field is still written when it declares an explicit, non-deprecated default.
fn writes_default(field: &FieldDescriptor) -> bool {
    let proto = field.field_descriptor_proto();
    proto.default_value.is_some()
        && !proto
            .options
            .as_ref()
            .and_then(|o| o.deprecated)
            .unwrap_or(false)
}

fn map_value_field(field: &FieldDescriptor) -> FieldDescriptor {
    match field.kind() {
        Kind::Message(entry) => entry.map_entry_value_field(),
        _ => field.clone(),
    }
}

fn map_key_string(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// Reads Mesos JSON text as a message.
pub fn from_str<M: ReflectMessage + Default>(text: &str) -> Result<M, JsonError> {
    let json: Json = serde_json::from_str(text).map_err(|e| JsonError::Syntax(e.to_string()))?;
    from_value(&json)
}

/// Reads a Mesos JSON value as a message.
pub fn from_value<M: ReflectMessage + Default>(json: &Json) -> Result<M, JsonError> {
    let descriptor = M::default().descriptor();
    let dynamic = dynamic_from_value(&descriptor, json)?;
    dynamic
        .transcode_to::<M>()
        .map_err(|e| JsonError::Transcode {
            message: descriptor.full_name().to_string(),
            reason: e.to_string(),
        })
}

/// Reads a JSON array of messages, as in the `--resources` JSON form.
pub fn list_from_value<M: ReflectMessage + Default>(json: &Json) -> Result<Vec<M>, JsonError> {
    match json {
        Json::Array(items) => items.iter().map(from_value).collect(),
        other => Err(JsonError::WrongType {
            path: String::new(),
            expected: "an array".into(),
            found: describe(other),
        }),
    }
}

/// Reads a Mesos JSON value as a reflected message of the given type.
pub fn dynamic_from_value(
    descriptor: &MessageDescriptor,
    json: &Json,
) -> Result<DynamicMessage, JsonError> {
    let message = parse_message(descriptor, json, "")?;
    check_required(&message, "")?;
    Ok(message)
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn describe(json: &Json) -> String {
    match json {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("boolean {b}"),
        Json::Number(n) => format!("number {n}"),
        Json::String(s) => format!("string {s:?}"),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

fn parse_message(
    descriptor: &MessageDescriptor,
    json: &Json,
    path: &str,
) -> Result<DynamicMessage, JsonError> {
    let Json::Object(object) = json else {
        return Err(JsonError::WrongType {
            path: if path.is_empty() {
                descriptor.name().to_string()
            } else {
                path.to_string()
            },
            expected: format!("an object ({})", descriptor.full_name()),
            found: describe(json),
        });
    };
    let mut message = DynamicMessage::new(descriptor.clone());
    for (key, value) in object {
        let Some(field) = descriptor.get_field_by_name(key) else {
            continue; // Unknown keys are ignored, as Mesos does.
        };
        if value.is_null() {
            continue;
        }
        let field_path = join(path, key);
        if field.is_map() {
            let parsed = parse_map(&field, value, &field_path)?;
            message.set_field(&field, Value::Map(parsed));
        } else if field.is_list() {
            let items: &[Json] = match value {
                Json::Array(items) => items,
                single => std::slice::from_ref(single),
            };
            let mut list = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{field_path}[{i}]");
                if let Some(v) = parse_single(&field, item, &item_path)? {
                    list.push(v);
                }
            }
            message.set_field(&field, Value::List(list));
        } else if let Some(v) = parse_single(&field, value, &field_path)? {
            message.set_field(&field, v);
        }
    }
    Ok(message)
}

fn parse_map(
    field: &FieldDescriptor,
    json: &Json,
    path: &str,
) -> Result<HashMap<MapKey, Value>, JsonError> {
    let Json::Object(object) = json else {
        return Err(JsonError::WrongType {
            path: path.to_string(),
            expected: "an object".into(),
            found: describe(json),
        });
    };
    let Kind::Message(entry) = field.kind() else {
        return Ok(HashMap::new());
    };
    let key_field = entry.map_entry_key_field();
    let value_field = entry.map_entry_value_field();
    let mut out = HashMap::with_capacity(object.len());
    for (k, v) in object {
        let entry_path = join(path, k);
        let key = match parse_single(&key_field, &Json::String(k.clone()), &entry_path)? {
            Some(Value::String(s)) => MapKey::String(s),
            Some(Value::Bool(b)) => MapKey::Bool(b),
            Some(Value::I32(n)) => MapKey::I32(n),
            Some(Value::I64(n)) => MapKey::I64(n),
            Some(Value::U32(n)) => MapKey::U32(n),
            Some(Value::U64(n)) => MapKey::U64(n),
            _ => continue,
        };
        if let Some(value) = parse_single(&value_field, v, &entry_path)? {
            out.insert(key, value);
        }
    }
    Ok(out)
}

/// Parses one (non-list) value. `None` means "leave unset" (an unknown optional enum name).
fn parse_single(
    field: &FieldDescriptor,
    json: &Json,
    path: &str,
) -> Result<Option<Value>, JsonError> {
    let wrong = |expected: &str| JsonError::WrongType {
        path: path.to_string(),
        expected: expected.to_string(),
        found: describe(json),
    };
    let value = match field.kind() {
        Kind::Message(descriptor) => Value::Message(parse_message(&descriptor, json, path)?),
        Kind::Enum(e) => {
            let Json::String(name) = json else {
                return Err(match json {
                    Json::Number(n) => JsonError::UnknownEnum {
                        path: path.to_string(),
                        value: n.to_string(),
                        enum_name: e.full_name().to_string(),
                    },
                    _ => wrong("an enum name"),
                });
            };
            match e.get_value_by_name(name) {
                Some(v) => Value::EnumNumber(v.number()),
                None if field.cardinality() == Cardinality::Required => {
                    return Err(JsonError::UnknownEnum {
                        path: path.to_string(),
                        value: name.clone(),
                        enum_name: e.full_name().to_string(),
                    });
                }
                // Mesos drops an unknown name in an optional or repeated field.
                None => return Ok(None),
            }
        }
        Kind::String => match json {
            Json::String(s) => Value::String(s.clone()),
            _ => return Err(wrong("a string")),
        },
        Kind::Bytes => match json {
            Json::String(s) => {
                // Mesos's decoder also skips whitespace (line-wrapped base64).
                let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
                Value::Bytes(
                    BASE64_LENIENT
                        .decode(compact)
                        .map(Into::into)
                        .map_err(|e| JsonError::Base64 {
                            path: path.to_string(),
                            reason: e.to_string(),
                        })?,
                )
            }
            _ => return Err(wrong("a base64 string")),
        },
        Kind::Bool => match json {
            Json::Bool(b) => Value::Bool(*b),
            Json::String(s) if s == "true" => Value::Bool(true),
            Json::String(s) if s == "false" => Value::Bool(false),
            _ => return Err(wrong("a boolean")),
        },
        Kind::Double => Value::F64(parse_float(json, path)?),
        #[allow(clippy::cast_possible_truncation)]
        Kind::Float => Value::F32(parse_float(json, path)? as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            let n = parse_int(json, path, "int32")?;
            Value::I32(i32::try_from(n).map_err(|_| out_of_range(path, n, "int32"))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            let n = parse_int(json, path, "int64")?;
            Value::I64(i64::try_from(n).map_err(|_| out_of_range(path, n, "int64"))?)
        }
        Kind::Uint32 | Kind::Fixed32 => {
            let n = parse_int(json, path, "uint32")?;
            Value::U32(u32::try_from(n).map_err(|_| out_of_range(path, n, "uint32"))?)
        }
        Kind::Uint64 | Kind::Fixed64 => {
            let n = parse_int(json, path, "uint64")?;
            Value::U64(u64::try_from(n).map_err(|_| out_of_range(path, n, "uint64"))?)
        }
    };
    Ok(Some(value))
}

fn out_of_range(path: &str, n: i128, ty: &'static str) -> JsonError {
    JsonError::OutOfRange {
        path: path.to_string(),
        value: n.to_string(),
        ty,
    }
}

fn parse_float(json: &Json, path: &str) -> Result<f64, JsonError> {
    match json {
        Json::Number(n) => n.as_f64().ok_or_else(|| JsonError::WrongType {
            path: path.to_string(),
            expected: "a number".into(),
            found: describe(json),
        }),
        Json::String(s) => match s.as_str() {
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            other => other
                .trim()
                .parse::<f64>()
                .map_err(|_| JsonError::WrongType {
                    path: path.to_string(),
                    expected: "a number".into(),
                    found: describe(json),
                }),
        },
        _ => Err(JsonError::WrongType {
            path: path.to_string(),
            expected: "a number".into(),
            found: describe(json),
        }),
    }
}

/// Reads an integer from a JSON number or numeric string. Whole-valued floats (`5.0`) are
/// accepted; fractions are not.
fn parse_int(json: &Json, path: &str, ty: &'static str) -> Result<i128, JsonError> {
    let wrong = || JsonError::WrongType {
        path: path.to_string(),
        expected: format!("an integer ({ty})"),
        found: describe(json),
    };
    let from_float = |f: f64| -> Result<i128, JsonError> {
        if f.fract() != 0.0 || !f.is_finite() || f.abs() > 1.9e19 {
            return Err(wrong());
        }
        #[allow(clippy::cast_possible_truncation)]
        Ok(f as i128)
    };
    match json {
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Ok(i128::from(u))
            } else {
                from_float(n.as_f64().ok_or_else(wrong)?)
            }
        }
        Json::String(s) => {
            let s = s.trim();
            match s.parse::<i128>() {
                Ok(i) => Ok(i),
                Err(_) => from_float(s.parse::<f64>().map_err(|_| wrong())?),
            }
        }
        _ => Err(wrong()),
    }
}

fn check_required(message: &DynamicMessage, path: &str) -> Result<(), JsonError> {
    for field in message.descriptor().fields() {
        let field_path = join(path, field.name());
        if field.cardinality() == Cardinality::Required && !message.has_field(&field) {
            return Err(JsonError::MissingRequired { path: field_path });
        }
        if !matches!(field.kind(), Kind::Message(_)) || field.is_map() {
            continue;
        }
        match message.get_field(&field).as_ref() {
            Value::Message(m) if message.has_field(&field) => check_required(m, &field_path)?,
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(m) = item {
                        check_required(m, &format!("{field_path}[{i}]"))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1 as pb;

    #[test]
    fn streaming_writer_agrees_with_the_value_writer() {
        let call = pb::scheduler::Call {
            r#type: Some(pb::scheduler::call::Type::Acknowledge as i32),
            framework_id: Some(pb::FrameworkId {
                value: "f-1".into(),
            }),
            acknowledge: Some(pb::scheduler::call::Acknowledge {
                agent_id: pb::AgentId { value: "a".into() },
                task_id: pb::TaskId { value: "t".into() },
                uuid: vec![0xfb, 0xff, 0x00],
            }),
            ..Default::default()
        };
        let streamed: Json = serde_json::from_str(&to_string(&call)).unwrap();
        assert_eq!(streamed, to_value(&call));
        assert_eq!(streamed["acknowledge"]["uuid"], "+/8A");
        assert_eq!(streamed["type"], "ACKNOWLEDGE");
    }

    #[test]
    fn non_finite_doubles_are_strings_both_ways() {
        let f = pb::Filters {
            refuse_seconds: Some(f64::INFINITY),
        };
        assert_eq!(to_string(&f), r#"{"refuse_seconds":"Infinity"}"#);
        let back: pb::Filters = from_str(&to_string(&f)).unwrap();
        assert_eq!(back.refuse_seconds, Some(f64::INFINITY));
    }

    #[test]
    fn lenient_where_mesos_is_lenient() {
        let ack: pb::scheduler::Call = from_str(
            r#"{"type": "ACKNOWLEDGE", "unknown_key": 1, "framework_id": {"value": "f"},
                "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"},
                                "uuid": "+/8"}}"#,
        )
        .unwrap();
        assert_eq!(ack.acknowledge.unwrap().uuid, vec![0xfb, 0xff]);
        // A bare value for a repeated field, a numeric string for a number, null for unset.
        let revive: pb::scheduler::Call =
            from_str(r#"{"type": "REVIVE", "revive": {"roles": "web"}, "framework_id": null}"#)
                .unwrap();
        assert_eq!(revive.revive.unwrap().roles, vec!["web".to_string()]);
        let f: pb::Filters = from_str(r#"{"refuse_seconds": "2.5"}"#).unwrap();
        assert_eq!(f.refuse_seconds, Some(2.5));
        // An unknown enum name in an optional field is dropped.
        let call: pb::scheduler::Call = from_str(r#"{"type": "NOT_A_CALL"}"#).unwrap();
        assert_eq!(call.r#type, None);
    }

    #[test]
    fn strict_where_mesos_is_strict() {
        let err = |text: &str| {
            from_str::<pb::scheduler::Call>(text)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("{"),
            "malformed JSON: EOF while parsing an object at line 1 column 1"
        );
        assert_eq!(
            err("[]"),
            "field 'Call': expected an object (mesos.v1.scheduler.Call), found an array"
        );
        assert_eq!(
            err(r#"{"type": 1}"#),
            "field 'type': '1' is not a value of enum mesos.v1.scheduler.Call.Type"
        );
        assert_eq!(
            err(r#"{"framework_id": {"value": 5}}"#),
            "field 'framework_id.value': expected a string, found number 5"
        );
        assert_eq!(
            err(r#"{"subscribe": {}}"#),
            "missing required field 'subscribe.framework_info'"
        );
        assert_eq!(
            err(
                r#"{"acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": "!!"}}"#
            ),
            "field 'acknowledge.uuid': invalid base64: Invalid symbol 33, offset 0."
        );
        assert_eq!(
            err(
                r#"{"kill": {"task_id": {"value": "t"}, "kill_policy": {"grace_period": {"nanoseconds": 1.5}}}}"#
            ),
            "field 'kill.kill_policy.grace_period.nanoseconds': expected an integer (int64), found number 1.5"
        );
    }
}
