//! A SOAP answer as a small tree of elements, named by local name.
//!
//! Cameras differ in the prefixes they bind (`tt:`, `ns2:`, none) and in the order and
//! number of optional elements, so answers are read by local name and path, never by prefix
//! or position. Answers are a few kilobytes, so a tree costs nothing worth saving.

use quick_xml::events::Event;

/// One element: its local name, attributes (local names), text and children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

/// Why a text is not an XML document.
#[derive(Debug, thiserror::Error)]
#[error("not well-formed XML at byte {at}: {reason}")]
pub struct XmlError {
    pub at: u64,
    pub reason: String,
}

fn local(qname: &[u8]) -> String {
    let name = String::from_utf8_lossy(qname);
    name.rsplit(':').next().unwrap_or_default().to_owned()
}

/// Parses `text` into its root element.
pub fn parse(text: &str) -> Result<Node, XmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node::default()];
    let fail = |reader: &quick_xml::Reader<&[u8]>, reason: String| XmlError { at: reader.buffer_position(), reason };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => stack.push(element(&e)),
            Ok(Event::Empty(e)) => {
                let node = element(&e);
                stack.last_mut().expect("the document node").children.push(node);
            }
            Ok(Event::End(_)) => {
                let node = stack.pop().expect("an open element");
                let Some(parent) = stack.last_mut() else { return Err(fail(&reader, "unbalanced end tag".into())) };
                parent.children.push(node);
            }
            Ok(Event::Text(t)) => {
                let text = t.decode().map_err(|e| fail(&reader, e.to_string()))?;
                stack.last_mut().expect("an open element").text.push_str(&text);
            }
            // Entity and character references come as events of their own.
            Ok(Event::GeneralRef(r)) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => {
                        let name = r.decode().map_err(|e| fail(&reader, e.to_string()))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| fail(&reader, format!("unknown entity &{name};")))?
                            .to_owned()
                    }
                };
                stack.last_mut().expect("an open element").text.push_str(&resolved);
            }
            Ok(Event::CData(t)) => {
                let text = String::from_utf8_lossy(&t.into_inner()).into_owned();
                stack.last_mut().expect("an open element").text.push_str(&text);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(fail(&reader, e.to_string())),
        }
    }
    if stack.len() != 1 {
        return Err(XmlError { at: text.len() as u64, reason: "the document ends inside an element".into() });
    }
    let mut doc = stack.pop().expect("the document node");
    match doc.children.len() {
        1 => Ok(doc.children.remove(0)),
        n => Err(XmlError { at: 0, reason: format!("{n} root elements") }),
    }
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Node {
    let attrs = e
        .attributes()
        .flatten()
        .map(|a| (local(a.key.as_ref()), a.unescape_value().map(|v| v.into_owned()).unwrap_or_default()))
        .collect();
    Node { name: local(e.name().as_ref()), attrs, ..Node::default() }
}

impl Node {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first element named `name` anywhere below, depth first.
    pub fn find(&self, name: &str) -> Option<&Node> {
        self.children.iter().find_map(|c| if c.name == name { Some(c) } else { c.find(name) })
    }

    /// Every element named `name` anywhere below (not below a match).
    pub fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Node>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            } else {
                c.find_all(name, out);
            }
        }
    }

    /// The element at `path` of child names.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, p| n.child(p))
    }

    /// The trimmed text at `path`, when present and not empty.
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).map(|n| n.text.trim()).filter(|t| !t.is_empty())
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_without_their_prefixes() {
        let doc = parse(
            r#"<?xml version="1.0"?><s:Envelope xmlns:s="x" xmlns:tt="y"><s:Body><a tt:token="p1">
               <tt:Name> main &amp; more </tt:Name><Empty/></a></s:Body></s:Envelope>"#,
        )
        .unwrap();
        assert_eq!(doc.name, "Envelope");
        let a = doc.at(&["Body", "a"]).unwrap();
        assert_eq!(a.attr("token"), Some("p1"));
        assert_eq!(a.text_at(&["Name"]), Some("main & more"));
        assert!(a.child("Empty").is_some() && a.text_at(&["Empty"]).is_none());
        assert_eq!(doc.find("Name").map(|n| n.text.trim()), Some("main & more"));
    }

    #[test]
    fn broken_documents_are_errors_not_panics() {
        for bad in ["", "<a>", "<a></b>", "<a/><b/>", "not xml at all", "<a>&bogus;</a>"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
