//! The owned value model: what a Redis key holds, independent of encoding.

/// A Redis value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string (integers included, as their decimal text).
    String(Vec<u8>),
    /// A list, head first.
    List(Vec<Vec<u8>>),
    /// A set, in the order the encoding held the members.
    Set(Vec<Vec<u8>>),
    /// A sorted set: members with their scores, in the order the encoding held them.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// A hash: fields with their values, in the order the encoding held them.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// A stream, kept as Redis serializes it (node listpacks verbatim).
    Stream(Box<crate::stream::Stream>),
}

impl Value {
    /// The same value with set members, hash fields and zset elements in a canonical
    /// order (bytes; score then member), so two equal values compare equal whatever
    /// order their encodings held.
    pub fn sorted(self) -> Value {
        match self {
            Value::Set(mut m) => {
                m.sort();
                Value::Set(m)
            }
            Value::Hash(mut p) => {
                p.sort();
                Value::Hash(p)
            }
            Value::ZSet(mut z) => {
                z.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
                Value::ZSet(z)
            }
            other => other,
        }
    }

    /// A collection without elements (never a string): Redis refuses to restore one and
    /// skips it when loading a file.
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::String(_) => false,
            Value::List(v) | Value::Set(v) => v.is_empty(),
            Value::ZSet(v) => v.is_empty(),
            Value::Hash(v) => v.is_empty(),
            // An empty stream is a real value (XGROUP CREATE ... MKSTREAM makes one).
            Value::Stream(_) => false,
        }
    }

    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Hash(_) => "hash",
            Value::Stream(_) => "stream",
        }
    }
}
