//! A small element tree for old cib.xml files: enough to read, rewrite and
//! write back a CIB (elements, attributes, comments; text is only
//! whitespace in a CIB and is dropped).

use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use crate::error::Error;

#[derive(Debug, Clone)]
pub(super) enum Node {
    Element(Element),
    Comment(String),
}

#[derive(Debug, Clone)]
pub(super) struct Element {
    pub(super) name: String,
    pub(super) attrs: Vec<(String, String)>,
    pub(super) children: Vec<Node>,
}

impl Element {
    pub(super) fn new(name: &str, attrs: Vec<(String, String)>) -> Element {
        Element {
            name: name.into(),
            attrs,
            children: Vec::new(),
        }
    }
    pub(super) fn get(&self, k: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn take(&mut self, k: &str) -> Option<String> {
        let i = self.attrs.iter().position(|(a, _)| a == k)?;
        Some(self.attrs.remove(i).1)
    }
    pub(super) fn set(&mut self, k: &str, v: &str) {
        match self.attrs.iter_mut().find(|(a, _)| a == k) {
            Some(slot) => slot.1 = v.into(),
            None => self.attrs.push((k.into(), v.into())),
        }
    }
    pub(super) fn elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Comment(_) => None,
        })
    }
    pub(super) fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.elements_mut().find(|e| e.name == name)
    }
}

pub(super) fn bad(file: &str, what: String) -> Error {
    Error::OldCib {
        file: file.into(),
        what,
        fix: "give the cib.xml written by Heartbeat 2's CRM (/var/lib/heartbeat/crm/cib.xml)"
            .into(),
    }
}

pub(super) fn parse(file: &str, text: &str) -> Result<Element, Error> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let attrs = |s: &BytesStart| -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for a in s.attributes() {
            let a = a.map_err(|e| e.to_string())?;
            let k = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            let v = a.unescape_value().map_err(|e| e.to_string())?.into_owned();
            out.push((k, v));
        }
        Ok(out)
    };
    loop {
        let pos = reader.buffer_position();
        let ev = reader
            .read_event()
            .map_err(|e| bad(file, format!("not well-formed XML near byte {pos}: {e}")))?;
        match ev {
            Event::Start(s) | Event::Empty(s) if root.is_some() => {
                return Err(bad(
                    file,
                    format!(
                        "content after the root element near byte {pos}: {}",
                        String::from_utf8_lossy(s.name().as_ref())
                    ),
                ));
            }
            Event::Start(s) => {
                let a = attrs(&s)
                    .map_err(|e| bad(file, format!("bad attribute near byte {pos}: {e}")))?;
                stack.push(Element::new(&String::from_utf8_lossy(s.name().as_ref()), a));
            }
            Event::Empty(s) => {
                let a = attrs(&s)
                    .map_err(|e| bad(file, format!("bad attribute near byte {pos}: {e}")))?;
                let e = Element::new(&String::from_utf8_lossy(s.name().as_ref()), a);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(e)),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let Some(e) = stack.pop() else {
                    return Err(bad(file, format!("unbalanced end tag near byte {pos}")));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(e)),
                    None => root = Some(e),
                }
            }
            Event::Comment(c) => {
                if let Some(parent) = stack.last_mut() {
                    parent
                        .children
                        .push(Node::Comment(String::from_utf8_lossy(&c).into_owned()));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(bad(file, "the document ends inside an element".into()));
    }
    match root {
        Some(r) if r.name == "cib" => Ok(r),
        Some(r) => Err(bad(
            file,
            format!("the root element is <{}>, not <cib>", r.name),
        )),
        None => Err(bad(file, "no element at all".into())),
    }
}

/// A set of nvpairs with pcs-style ids.
pub(super) fn nvset(tag: &str, id: &str, pairs: &[(String, String)]) -> Element {
    let mut set = Element::new(tag, vec![("id".into(), id.into())]);
    for (k, v) in pairs {
        set.children.push(Node::Element(Element::new(
            "nvpair",
            vec![
                ("id".into(), format!("{id}-{k}")),
                ("name".into(), k.clone()),
                ("value".into(), v.clone()),
            ],
        )));
    }
    set
}

pub(super) fn write_element(w: &mut Writer<Vec<u8>>, e: &Element) {
    let mut start = BytesStart::new(e.name.as_str());
    for (k, v) in &e.attrs {
        start.push_attribute((k.as_str(), v.as_str()));
    }
    if e.children.is_empty() {
        let _ = w.write_event(Event::Empty(start));
        return;
    }
    let _ = w.write_event(Event::Start(start));
    for c in &e.children {
        match c {
            Node::Element(child) => write_element(w, child),
            Node::Comment(t) => {
                let _ = w.write_event(Event::Comment(BytesText::from_escaped(
                    t.replace("--", "- -"),
                )));
            }
        }
    }
    let _ = w.write_event(Event::End(BytesEnd::new(e.name.as_str())));
}
