//! Turns the schema's descriptions (Qlik's help-site markdown with some HTML) into rustdoc
//! comments that build without warnings: no doctests from its JSON examples, no intra-doc
//! links from its brackets, no lazy list continuations.

/// `/// ` lines for `text` (already markdown), indented by `indent` spaces.
pub(crate) fn comment(text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for line in text.lines() {
        if line.is_empty() {
            out.push_str(&format!("{pad}///\n"));
        } else {
            out.push_str(&format!("{pad}/// {line}\n"));
        }
    }
    out
}

/// The description rewritten as rustdoc markdown.
pub(crate) fn markdown(text: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut in_fence = false;
    let mut in_list = false;
    for raw in text.trim().lines() {
        let trimmed = raw.trim();
        if trimmed.starts_with("```") {
            // The examples are JSON; untagged, rustdoc would compile them as Rust.
            lines.push(if in_fence || trimmed.len() > 3 {
                trimmed.to_owned()
            } else {
                "```text".to_owned()
            });
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            lines.push(raw.trim_end().to_owned());
            continue;
        }
        let is_item = trimmed.starts_with("* ") || trimmed.starts_with("- ");
        if trimmed.is_empty() {
            in_list = false;
        } else if is_item {
            in_list = true;
        } else if in_list {
            // A line after a list item is a new paragraph in the text's intent.
            lines.push(String::new());
            in_list = false;
        }
        lines.push(inline(trimmed));
    }
    if in_fence {
        lines.push("```".to_owned());
    }
    // Collapse runs of blank lines.
    let mut out = String::new();
    let mut blank = false;
    for line in lines {
        if line.is_empty() {
            if !blank && !out.is_empty() {
                out.push('\n');
            }
            blank = true;
        } else {
            out.push_str(&line);
            out.push('\n');
            blank = false;
        }
    }
    out.trim_end().to_owned()
}

/// One line outside code: links to Qlik's help pages become their text, other brackets are
/// escaped, bare URLs get angle brackets, unbalanced `<i>` tags go.
fn inline(line: &str) -> String {
    let line = line
        .replace("<i/>", "")
        .replace("<i>", "")
        .replace("</i>", "");
    let mut out = String::with_capacity(line.len());
    let mut rest = line.as_str();
    while let Some(start) = rest.find('[') {
        out.push_str(&escape_urls(&rest[..start]));
        let after = &rest[start + 1..];
        match link(after) {
            Some((text, consumed)) => {
                out.push_str(&escape_brackets(text));
                rest = &after[consumed..];
            }
            None => {
                out.push_str("\\[");
                rest = after;
            }
        }
    }
    out.push_str(&escape_urls(rest));
    out.replace(']', "\\]")
}

/// `text](url)` at the start of `s`: the text and how many bytes the link takes.
fn link(s: &str) -> Option<(&str, usize)> {
    let close = s.find(']')?;
    let text = &s[..close];
    if text.contains('[') {
        return None;
    }
    let after = s[close + 1..].strip_prefix('(')?;
    let end = after.find(')')?;
    Some((text, close + 2 + end + 1))
}

fn escape_brackets(text: &str) -> String {
    text.replace('[', "\\[")
}

fn escape_urls(text: &str) -> String {
    let mut out = String::new();
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.starts_with("http://") || word.starts_with("https://") {
            let url = word.trim_end_matches(['.', ',', ')']);
            out.push('<');
            out.push_str(url);
            out.push('>');
            out.push_str(&word[url.len()..]);
        } else {
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_become_text_blocks_and_brackets_are_escaped() {
        let text = "Sends:\n```\n{\n    \"a\": [1]\n}\n```\nSee [N] and [the page](x.html).";
        let md = markdown(text);
        assert!(md.contains("```text\n{\n    \"a\": [1]\n}\n```"), "{md}");
        assert!(md.ends_with("See \\[N\\] and the page."), "{md}");
    }

    #[test]
    fn a_line_after_a_list_starts_a_paragraph() {
        let md = markdown("* one\n    * two\nDefault is 0.");
        assert_eq!(md, "* one\n* two\n\nDefault is 0.");
    }
}
