//! Agent attributes: the `--attributes` flag (`rack:r1;zone:2;ports:[1-10]`) and matching.
//!
//! Attributes describe a machine for placement decisions. They share the value syntax of
//! resources but may be text, and are never sets.

use std::fmt;

use crate::proto::v1 as pb;
use crate::values::{Range, Ranges, Scalar, Set, Value, ValueParseError, parse_value};

/// One attribute of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// The attribute's name.
    pub name: String,
    /// Its value.
    pub value: Value,
}

/// Why an attribute list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    /// A token that is not `name:value`.
    #[error("invalid attribute '{0}': expected 'name:value'")]
    NotNameValue(String),
    /// A value that did not parse.
    #[error("invalid value for attribute '{name}': {source}")]
    Value {
        /// The attribute's name.
        name: String,
        /// Why the value is invalid.
        source: ValueParseError,
    },
    /// Sets are not allowed as attribute values.
    #[error("attribute '{0}' cannot be a set; use scalars, ranges or text")]
    SetValue(String),
    /// A wire attribute whose type and value fields disagree.
    #[error("invalid attribute '{name}': {detail}")]
    Malformed {
        /// The attribute's name.
        name: String,
        /// What is inconsistent.
        detail: String,
    },
}

/// An ordered list of attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes(Vec<Attribute>);

impl Attributes {
    /// Parses the `--attributes` text: tokens separated by `;` or newlines, each `name:value`
    /// split at the first `:`.
    pub fn parse(text: &str) -> Result<Attributes, AttributeError> {
        let mut out = Vec::new();
        for token in text.split([';', '\n']).filter(|t| !t.is_empty()) {
            let (name, value) = token
                .split_once(':')
                .filter(|(n, v)| !n.is_empty() && !v.is_empty())
                .ok_or_else(|| AttributeError::NotNameValue(token.to_string()))?;
            let value = parse_value(value).map_err(|source| AttributeError::Value {
                name: name.to_string(),
                source,
            })?;
            if matches!(value, Value::Set(_)) {
                return Err(AttributeError::SetValue(name.to_string()));
            }
            out.push(Attribute {
                name: name.to_string(),
                value,
            });
        }
        Ok(Attributes(out))
    }

    /// The attributes in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Attribute> + '_ {
        self.0.iter()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first attribute with this name.
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.0.iter().find(|a| a.name == name)
    }

    /// True when an attribute with the same name and an equal value is present.
    pub fn contains(&self, attribute: &Attribute) -> bool {
        self.0.iter().any(|a| a == attribute)
    }

    /// True when every attribute of `required` is present with an equal value.
    pub fn matches_all(&self, required: &Attributes) -> bool {
        required.0.iter().all(|a| self.contains(a))
    }

    /// Converts from wire attributes.
    pub fn from_proto(list: &[pb::Attribute]) -> Result<Attributes, AttributeError> {
        list.iter()
            .map(attribute_from_proto)
            .collect::<Result<Vec<_>, _>>()
            .map(Attributes)
    }

    /// Converts to wire attributes.
    pub fn to_proto(&self) -> Vec<pb::Attribute> {
        self.0.iter().map(attribute_to_proto).collect()
    }
}

impl FromIterator<Attribute> for Attributes {
    fn from_iter<I: IntoIterator<Item = Attribute>>(iter: I) -> Attributes {
        Attributes(iter.into_iter().collect())
    }
}

impl fmt::Display for Attributes {
    /// The `--attributes` text form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{}:{}", a.name, a.value)?;
        }
        Ok(())
    }
}

fn attribute_from_proto(a: &pb::Attribute) -> Result<Attribute, AttributeError> {
    let malformed = |detail: &str| AttributeError::Malformed {
        name: a.name.clone(),
        detail: detail.to_string(),
    };
    let value = match pb::value::Type::try_from(a.r#type) {
        Ok(pb::value::Type::Scalar) => {
            let s = a
                .scalar
                .as_ref()
                .ok_or_else(|| malformed("type SCALAR without 'scalar'"))?;
            Value::Scalar(
                Scalar::try_from_f64(s.value).ok_or_else(|| malformed("scalar is not finite"))?,
            )
        }
        Ok(pb::value::Type::Ranges) => {
            let r = a
                .ranges
                .as_ref()
                .ok_or_else(|| malformed("type RANGES without 'ranges'"))?;
            Value::Ranges(
                Ranges::from_ranges_coalescing(r.range.iter().map(|x| Range::new(x.begin, x.end)))
                    .map_err(|e| malformed(&e.to_string()))?,
            )
        }
        Ok(pb::value::Type::Set) => {
            let s = a
                .set
                .as_ref()
                .ok_or_else(|| malformed("type SET without 'set'"))?;
            Value::Set(
                Set::from_unique(s.item.iter().cloned())
                    .map_err(|item| malformed(&format!("set item '{item}' appears twice")))?,
            )
        }
        Ok(pb::value::Type::Text) => {
            let t = a
                .text
                .as_ref()
                .ok_or_else(|| malformed("type TEXT without 'text'"))?;
            Value::Text(t.value.clone())
        }
        Err(_) => return Err(malformed("unknown value type")),
    };
    Ok(Attribute {
        name: a.name.clone(),
        value,
    })
}

fn attribute_to_proto(a: &Attribute) -> pb::Attribute {
    let mut out = pb::Attribute {
        name: a.name.clone(),
        ..Default::default()
    };
    match &a.value {
        Value::Scalar(s) => {
            out.r#type = pb::value::Type::Scalar as i32;
            out.scalar = Some(pb::value::Scalar { value: s.as_f64() });
        }
        Value::Ranges(r) => {
            out.r#type = pb::value::Type::Ranges as i32;
            out.ranges = Some(pb::value::Ranges {
                range: r
                    .iter()
                    .map(|x| pb::value::Range {
                        begin: x.begin,
                        end: x.end,
                    })
                    .collect(),
            });
        }
        Value::Set(s) => {
            out.r#type = pb::value::Type::Set as i32;
            out.set = Some(pb::value::Set {
                item: s.iter().map(str::to_string).collect(),
            });
        }
        Value::Text(t) => {
            out.r#type = pb::value::Type::Text as i32;
            out.text = Some(pb::value::Text { value: t.clone() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let attrs = Attributes::parse("rack:r1;zone:2;ports:[1-10]\nos:debian:12").unwrap();
        assert_eq!(attrs.iter().len(), 4);
        assert_eq!(
            attrs.get("os").unwrap().value,
            Value::Text("debian:12".into())
        );
        assert_eq!(
            attrs.get("zone").unwrap().value,
            Value::Scalar(Scalar::from_units(2))
        );
        let odd = Attributes::parse("floor:-1;weight:inf").unwrap();
        assert_eq!(odd.get("floor").unwrap().value, Value::Text("-1".into()));
        let wanted = Attributes::parse("rack:r1").unwrap();
        assert!(attrs.matches_all(&wanted));
        assert!(!attrs.matches_all(&Attributes::parse("rack:r2").unwrap()));
        assert_eq!(Attributes::from_proto(&attrs.to_proto()).unwrap(), attrs);
        assert_eq!(
            attrs.to_string(),
            "rack:r1;zone:2;ports:[1-10];os:debian:12"
        );
    }

    #[test]
    fn rejects_bad_tokens() {
        assert_eq!(
            Attributes::parse("rack").unwrap_err().to_string(),
            "invalid attribute 'rack': expected 'name:value'"
        );
        assert_eq!(
            Attributes::parse("ids:{a,b}").unwrap_err().to_string(),
            "attribute 'ids' cannot be a set; use scalars, ranges or text"
        );
        assert!(matches!(
            Attributes::parse("r:[1-"),
            Err(AttributeError::Value { .. })
        ));
    }
}
