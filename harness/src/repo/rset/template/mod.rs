//! Go `text/template` with the Flux Operator's settings: `<<`/`>>` delimiters, `missingkey=error`,
//! nil data, and the functions of [`super::funcs`] (slim-sprig's, `slugify`, `toYaml`, `inputs`).
//!
//! What Go's template language has is here: trim markers (`<<-`, `->>`), comments, pipelines,
//! parenthesised pipelines, field chains on maps, variables (`$x :=`, `$x =`, `$`), `if`/`else
//! if`/`else`, `range` (lists, maps in key order, integers; `$i, $v :=`; `else`; `break`,
//! `continue`), `with`/`else with`, and the builtins (`and`, `or`, `not`, `len`, `index`, `slice`,
//! `print`, `printf`, `println`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`). `define`, `template` and
//! `block` are not: a template that uses them is reported as not expanded, never guessed.

use std::collections::BTreeMap;

use super::value::TVal;

/// Why a template did not expand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The operator refuses it too (Go's parse or execution error).
    #[error("{message}")]
    Invalid {
        /// 1-based line in the template text.
        line: usize,
        /// What Go would say.
        message: String,
    },
    /// Valid for the operator, but uses something this reader does not implement.
    #[error("{what} is not implemented by this check")]
    Unsupported {
        /// 1-based line in the template text.
        line: usize,
        /// The function or action.
        what: String,
    },
}

impl TemplateError {
    /// The 1-based line of the template text it is about.
    pub fn line(&self) -> usize {
        match self {
            TemplateError::Invalid { line, .. } | TemplateError::Unsupported { line, .. } => *line,
        }
    }
}

type Res<T> = Result<T, TemplateError>;

fn invalid(line: usize, message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid { line, message: message.into() }
}

mod exec;
mod lex;
mod parser;

pub use exec::Exec;

/// An operand of a command.
#[derive(Debug, Clone)]
enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Str(String),
    Int(i64),
    Float(f64),
    /// `.a.b` on dot.
    Fields(Vec<String>),
    /// `$x.a.b`.
    Var(String, Vec<String>),
    /// A function name, with fields chained on its result (`inputs.tenant`).
    Func(String, Vec<String>),
    /// `(pipeline).a.b`.
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone)]
struct Cmd {
    args: Vec<Arg>,
    line: usize,
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
    line: usize,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    With(Vec<(Pipe, Vec<Node>)>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    Break,
    Continue,
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

/// Parse a template (the operator's `<<`/`>>` delimiters).
pub fn parse(src: &str) -> Res<Template> {
    parse_delims(src, "<<", ">>")
}

/// Parse a template with other delimiters (`{{`/`}}` for a Helm chart's guard conditions).
pub fn parse_delims(src: &str, left: &str, right: &str) -> Res<Template> {
    let toks = lex::lex(src, left, right)?;
    let mut p = parser::Parser::new(toks);
    let (nodes, end) = p.list()?;
    match end {
        parser::Stop::Eof => Ok(Template { nodes }),
        parser::Stop::End => Err(invalid(p.line(), "unexpected {{end}}")),
        parser::Stop::Else(_) => Err(invalid(p.line(), "unexpected {{else}}")),
    }
}
/// Convenience for tests and callers: parse and execute once.
pub fn render(src: &str, inputs: &TVal) -> Res<String> {
    parse(src)?.execute(inputs)
}

/// An input set from a JSON map.
pub fn inputs_of(m: &serde_json::Map<String, serde_json::Value>) -> TVal {
    TVal::Map(m.iter().map(|(k, v)| (k.clone(), TVal::from_input(v))).collect::<BTreeMap<_, _>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str, inputs: serde_json::Value) -> String {
        let m = inputs.as_object().cloned().unwrap_or_default();
        render(src, &inputs_of(&m)).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn fields_pipes_and_functions() {
        let i = serde_json::json!({"tenant": "team1", "app": {"version": "6.7.x", "replicas": 2}});
        assert_eq!(run("name: app-<< inputs.tenant >>", i.clone()), "name: app-team1");
        assert_eq!(run("v: << inputs.app.version | quote >>", i.clone()), "v: \"6.7.x\"");
        assert_eq!(run("r: << inputs.app.replicas | int >>", i.clone()), "r: 2");
        assert_eq!(run("r: << inputs.app.replicas >>", i.clone()), "r: 2");
        assert_eq!(run(r#"<< get inputs "name" | default inputs.tenant >>"#, i.clone()), "team1");
        assert_eq!(run("<< (inputs.app).version >>", i.clone()), "6.7.x");
        assert_eq!(run("<< $t := inputs.tenant >><< $t | upper >>", i.clone()), "TEAM1");
        let err = render("<< inputs.missing >>", &inputs_of(i.as_object().unwrap())).unwrap_err();
        assert!(err.to_string().contains("map has no entry for key \"missing\""), "{err}");
        // An input number is a float64: comparing it with an int literal fails in Go.
        let err = render("<< eq inputs.app.replicas 2 >>", &inputs_of(i.as_object().unwrap())).unwrap_err();
        assert!(err.to_string().contains("incompatible types"), "{err}");
        assert!(matches!(parse("<< nosuchfunc 1 >>"), Err(TemplateError::Invalid { .. })));
    }

    #[test]
    fn control_flow_and_trim_markers() {
        let i = serde_json::json!({"bundle": "apps", "decryption": true, "components": ["frontend", "backend"]});
        let src =
            "a\n<<- range $c := inputs.components >>\n- << $c >>\n<<- end >>\n<<- if inputs.decryption >> sops<< else >> none<< end >>";
        assert_eq!(run(src, i.clone()), "a\n- frontend\n- backend sops");
        assert_eq!(run("<< range $i, $c := inputs.components >><< $i >>=<< $c >> << end >>", i.clone()), "0=frontend 1=backend ");
        assert_eq!(run("<< range inputs.none >>x<< else >>empty<< end >>", serde_json::json!({"none": []})), "empty");
        assert_eq!(run("<< with inputs.bundle >><< . >><< end >>", i.clone()), "apps");
        assert_eq!(run("<<- /* note */ ->>\n  x", i.clone()), "x");
        assert_eq!(run("<< if eq inputs.bundle \"x\" >>1<< else if eq inputs.bundle \"apps\" >>2<< end >>", i.clone()), "2");
        assert_eq!(run("<< range $k, $v := dict \"b\" 1 \"a\" 2 >><< $k >><< end >>", i.clone()), "ab");
        assert_eq!(run("<< range 3 >><< . >><< end >>", i), "012");
        assert!(matches!(parse("<< define \"x\" >><< end >>"), Err(TemplateError::Unsupported { .. })));
    }

    #[test]
    fn nil_prints_no_value() {
        assert_eq!(run("<< inputs.x >>", serde_json::json!({"x": null})), "<no value>");
    }
}
