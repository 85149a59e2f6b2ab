//! The one rule that spans rows: a `template` row must be the last row of its page (templates
//! apply asynchronously, so a later write could land under the template's values). Template
//! rows are held back until the end of the input, which keeps their page's order, and become
//! invalid if a later row names the same page. Memory grows with the number of template rows
//! only.

use std::collections::HashMap;

use crate::mapping::{Mapped, Problem};
use crate::notion::NotionId;

/// Holds template rows until no later row can name their page. `T` travels with each row
/// (the raw record, for `apply`).
#[derive(Debug)]
pub struct TemplateGate<T = ()> {
    held: HashMap<NotionId, (Mapped, T)>,
}

impl<T> Default for TemplateGate<T> {
    fn default() -> TemplateGate<T> {
        TemplateGate {
            held: HashMap::new(),
        }
    }
}

impl<T> TemplateGate<T> {
    /// Takes the next mapped row in input order; returns what may go on now, in order.
    pub fn admit(&mut self, mapped: Mapped, extra: T) -> Vec<(Mapped, T)> {
        let mut out = Vec::new();
        // The page, or with --match-on (before the page is found) the key.
        let gate = mapped.page_id().or_else(|| mapped.key().map(|k| k.lane()));
        if let Some(id) = gate {
            if let Some((Mapped::Update(held), held_extra)) = self.held.remove(&id) {
                let page = match &held.key {
                    Some(key) => format!("the page of key {:?}", key.text),
                    None => format!("page {id}"),
                };
                out.push((Mapped::Invalid(crate::mapping::RowError {
                    row: held.row,
                    line: held.line,
                    page_id: Some(held.page_id).filter(|p| *p != NotionId::UNMATCHED),
                    key: held.key.clone(),
                    problems: vec![Problem::at(
                        "template",
                        format!(
                            "a template row must be the last row of its page, but row {} also changes {page}; \
                             move the template row after it",
                            mapped.row()
                        ),
                    )],
                }), held_extra));
            }
        }
        match (mapped, gate) {
            (Mapped::Update(update), Some(id)) if update.body.template.is_some() => {
                self.held.insert(id, (Mapped::Update(update), extra));
            }
            (other, _) => out.push((other, extra)),
        }
        out
    }

    /// At the end of the input: the template rows held back, in input order.
    pub fn finish(&mut self) -> Vec<(Mapped, T)> {
        let mut rows: Vec<(Mapped, T)> = self.held.drain().map(|(_, m)| m).collect();
        rows.sort_by_key(|(m, _)| m.row());
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Body, PageUpdate};
    use serde_json::json;

    fn update(row: u64, page: u128, template: bool) -> Mapped {
        Mapped::Update(PageUpdate {
            row,
            line: row + 1,
            page_id: NotionId::from_u128(page),
            key: None,
            body: Body {
                template: template.then(|| json!({"type": "default"})),
                in_trash: Some(false),
                ..Body::default()
            },
        })
    }

    #[test]
    fn template_rows_wait_for_the_end_and_fail_if_their_page_comes_again() {
        let mut gate = TemplateGate::default();
        assert!(gate.admit(update(1, 1, true), 'a').is_empty());
        assert!(gate.admit(update(2, 2, true), 'b').is_empty());
        let out = gate.admit(update(3, 3, false), 'c');
        assert_eq!(
            out.iter().map(|(m, x)| (m.row(), *x)).collect::<Vec<_>>(),
            [(3, 'c')]
        );
        // Page 1 comes again: its template row (row 1) is invalid, row 4 goes on.
        let out = gate.admit(update(4, 1, false), 'd');
        assert_eq!(out.len(), 2);
        let (Mapped::Invalid(err), 'a') = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(err.row, 1);
        assert!(
            err.message().contains("row 4 also changes page"),
            "{}",
            err.message()
        );
        assert_eq!((out[1].0.row(), out[1].1), (4, 'd'));
        // At the end only page 2's template row is left.
        let rest = gate.finish();
        assert_eq!(
            rest.iter().map(|(m, x)| (m.row(), *x)).collect::<Vec<_>>(),
            [(2, 'b')]
        );
    }

    #[test]
    fn with_a_key_the_gate_holds_a_template_row_by_its_key() {
        let keyed = |row: u64, key: &str, template: bool| {
            let Mapped::Update(mut u) = update(row, 0, template) else {
                unreachable!()
            };
            u.page_id = NotionId::UNMATCHED;
            u.key = Some(crate::mapping::key::RowKey {
                text: key.into(),
                canonical: key.into(),
            });
            Mapped::Update(u)
        };
        let mut gate = TemplateGate::default();
        assert!(gate.admit(keyed(1, "SKU-1", true), ()).is_empty());
        assert_eq!(gate.admit(keyed(2, "SKU-2", false), ()).len(), 1);
        let out = gate.admit(keyed(3, "SKU-1", false), ());
        let Mapped::Invalid(err) = &out[0].0 else {
            panic!("{out:?}")
        };
        assert_eq!((err.row, err.page_id), (1, None));
        assert!(
            err.message()
                .contains("row 3 also changes the page of key \"SKU-1\""),
            "{}",
            err.message()
        );
        assert!(gate.finish().is_empty());
    }
}
