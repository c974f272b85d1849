//! Executing a parsed template: Go's evaluation of pipelines, control flow and functions.

use super::super::funcs;
use super::super::value::TVal;
use super::{Arg, Cmd, Node, Pipe, Res, Template, TemplateError, invalid};

/// Control flow out of a node list.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// One execution: the input set `inputs` returns, variables, output.
pub struct Exec<'a> {
    inputs: &'a TVal,
    /// `missingkey=zero` (Helm) instead of the operator's `missingkey=error`.
    missing_is_nil: bool,
    vars: Vec<(String, TVal)>,
    out: String,
    /// Guard against runaway templates (`until 1e9`): output and steps are bounded.
    budget: usize,
}

const MAX_OUTPUT: usize = 16 * 1024 * 1024;

impl Template {
    /// Execute with `inputs` as what the `inputs` function returns (nil data, as the operator).
    pub fn execute(&self, inputs: &TVal) -> Res<String> {
        let mut e = Exec { inputs, missing_is_nil: false, vars: vec![("$".to_string(), TVal::Nil)], out: String::new(), budget: 5_000_000 };
        e.walk(&self.nodes, &TVal::Nil)?;
        Ok(e.out)
    }

    /// Execute with `dot` as the data and `missingkey=zero`, as Helm renders a chart.
    pub fn execute_data(&self, dot: &TVal) -> Res<String> {
        let nil = TVal::Nil;
        let mut e =
            Exec { inputs: &nil, missing_is_nil: true, vars: vec![("$".to_string(), dot.clone())], out: String::new(), budget: 1_000_000 };
        e.walk(&self.nodes, dot)?;
        Ok(e.out)
    }
}

impl Exec<'_> {
    fn walk(&mut self, nodes: &[Node], dot: &TVal) -> Res<Flow> {
        for n in nodes {
            if self.budget == 0 || self.out.len() > MAX_OUTPUT {
                return Err(invalid(1, "template output or work exceeds the limit this check allows"));
            }
            self.budget -= 1;
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        self.print(&v);
                    }
                }
                Node::If(branches, els) => {
                    let mark = self.vars.len();
                    let mut taken = false;
                    for (cond, body) in branches {
                        let v = self.pipe(cond, dot)?;
                        if v.truthy() {
                            let f = self.walk(body, dot)?;
                            self.vars.truncate(mark);
                            if !matches!(f, Flow::Normal) {
                                return Ok(f);
                            }
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        let f = self.walk(els, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(f, Flow::Normal) {
                            return Ok(f);
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::With(branches, els) => {
                    let mark = self.vars.len();
                    let mut taken = false;
                    for (cond, body) in branches {
                        let v = self.pipe(cond, dot)?;
                        if v.truthy() {
                            let f = self.walk(body, &v)?;
                            self.vars.truncate(mark);
                            if !matches!(f, Flow::Normal) {
                                return Ok(f);
                            }
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        let f = self.walk(els, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(f, Flow::Normal) {
                            return Ok(f);
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Range(p, body, els) => {
                    let mark = self.vars.len();
                    // The pipeline's variables are set per element, not to the pipeline's value.
                    let decl = p.decl.clone();
                    let bare = Pipe { decl: Vec::new(), assign: false, cmds: p.cmds.clone(), line: p.line };
                    let v = self.pipe(&bare, dot)?;
                    let items: Vec<(TVal, TVal)> = match v {
                        TVal::List(l) => l.into_iter().enumerate().map(|(i, v)| (TVal::Int(i as i64), v)).collect(),
                        TVal::Map(m) => m.into_iter().map(|(k, v)| (TVal::Str(k), v)).collect(),
                        TVal::Int(n) => (0..n.max(0)).map(|i| (TVal::Int(i), TVal::Int(i))).collect(),
                        TVal::Nil => Vec::new(),
                        other => return Err(invalid(p.line, format!("range can't iterate over {}", other.go_string()))),
                    };
                    if items.is_empty() {
                        let f = self.walk(els, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(f, Flow::Normal) {
                            return Ok(f);
                        }
                        continue;
                    }
                    for (k, v) in items {
                        self.vars.truncate(mark);
                        match decl.as_slice() {
                            [] => {}
                            [one] => self.vars.push((one.clone(), v.clone())),
                            [a, b, ..] => {
                                self.vars.push((a.clone(), k));
                                self.vars.push((b.clone(), v.clone()));
                            }
                        }
                        match self.walk(body, &v)? {
                            Flow::Break => break,
                            Flow::Continue | Flow::Normal => {}
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn print(&mut self, v: &TVal) {
        match v {
            // text/template prints a nil interface as `<no value>`.
            TVal::Nil => self.out.push_str("<no value>"),
            other => self.out.push_str(&other.go_string()),
        }
    }

    fn pipe(&mut self, p: &Pipe, dot: &TVal) -> Res<TVal> {
        let mut last: Option<TVal> = None;
        for c in &p.cmds {
            last = Some(self.cmd(c, dot, last)?);
        }
        let v = last.unwrap_or(TVal::Nil);
        for name in &p.decl {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(invalid(p.line, format!("undefined variable: {name}"))),
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn var(&self, name: &str, line: usize) -> Res<TVal> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| invalid(line, format!("undefined variable: {name}")))
    }

    fn cmd(&mut self, c: &Cmd, dot: &TVal, piped: Option<TVal>) -> Res<TVal> {
        let line = c.line;
        let first = &c.args[0];
        if let Arg::Func(name, fields) = first
            && fields.is_empty()
        {
            return self.call(name, &c.args[1..], piped, dot, line);
        }
        if c.args.len() > 1 || piped.is_some() {
            return Err(invalid(line, "can't give argument to non-function"));
        }
        self.arg(first, dot, line)
    }

    fn arg(&mut self, a: &Arg, dot: &TVal, line: usize) -> Res<TVal> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Nil => TVal::Nil,
            Arg::Bool(b) => TVal::Bool(*b),
            Arg::Str(s) => TVal::Str(s.clone()),
            Arg::Int(i) => TVal::Int(*i),
            Arg::Float(f) => TVal::Float(*f),
            Arg::Fields(fields) => fields_of(dot.clone(), fields, line, self.missing_is_nil)?,
            Arg::Var(v, fields) => fields_of(self.var(v, line)?, fields, line, self.missing_is_nil)?,
            Arg::Func(name, fields) => {
                let v = self.call(name, &[], None, dot, line)?;
                fields_of(v, fields, line, self.missing_is_nil)?
            }
            Arg::Sub(p, fields) => {
                let v = self.pipe(p, dot)?;
                fields_of(v, fields, line, self.missing_is_nil)?
            }
        })
    }

    fn call(&mut self, name: &str, args: &[Arg], piped: Option<TVal>, dot: &TVal, line: usize) -> Res<TVal> {
        // `and`/`or` evaluate only as far as needed.
        if name == "and" || name == "or" {
            let mut last = TVal::Nil;
            let n = args.len() + usize::from(piped.is_some());
            if n == 0 {
                return Err(invalid(line, format!("wrong number of args for {name}: want at least 1 got 0")));
            }
            for a in args {
                last = self.arg(a, dot, line)?;
                if (name == "and") != last.truthy() {
                    return Ok(last);
                }
            }
            if let Some(p) = piped {
                last = p;
            }
            return Ok(last);
        }
        if name == "inputs" {
            if !args.is_empty() || piped.is_some() {
                return Err(invalid(line, "wrong number of args for inputs: want 0"));
            }
            return Ok(self.inputs.clone());
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(a, dot, line)?);
        }
        if let Some(p) = piped {
            vals.push(p);
        }
        funcs::call(name, vals).map_err(|e| match e {
            funcs::FuncError::Failed(m) => invalid(line, format!("error calling {name}: {m}")),
            funcs::FuncError::Unsupported => TemplateError::Unsupported { line, what: format!("the template function `{name}`") },
        })
    }
}

/// `.a.b` on a value, with `missingkey=error` (or `zero`).
fn fields_of(mut v: TVal, fields: &[String], line: usize, missing_is_nil: bool) -> Res<TVal> {
    for f in fields {
        v = match v {
            TVal::Map(mut m) => match m.remove(f) {
                Some(x) => x,
                None if missing_is_nil => TVal::Nil,
                None => return Err(invalid(line, format!("map has no entry for key {f:?}"))),
            },
            TVal::Nil => return Err(invalid(line, format!("nil pointer evaluating interface {{}}.{f}"))),
            other => return Err(invalid(line, format!("can't evaluate field {f} in type {}", other.type_name()))),
        };
    }
    Ok(v)
}
