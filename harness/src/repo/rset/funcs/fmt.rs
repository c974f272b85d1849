//! Go's `fmt` printing as templates use it: `print`, `printf`.

use super::super::value::TVal;
use super::{FuncError, go_quote};

/// `fmt.Sprint`: spaces between operands when neither is a string.
pub(super) fn sprint(args: &[TVal]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, TVal::Str(_)) && !matches!(args[i - 1], TVal::Str(_)) {
            out.push(' ');
        }
        out.push_str(&a.go_string());
    }
    out
}

/// `fmt.Sprintf` for the verbs templates use (`%s %v %d %q %t %f %x %%`, width and precision).
pub(super) fn sprintf(format: &str, args: &[TVal]) -> Result<String, FuncError> {
    let mut out = String::new();
    let mut it = format.chars().peekable();
    let mut ai = 0usize;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = it.peek() {
            if "+-# 0".contains(f) {
                flags.push(f);
                it.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            it.next();
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            let mut p = String::new();
            while let Some(&d) = it.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                it.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        ai += 1;
        let s = match verb {
            'v' | 's' => match (verb, arg) {
                ('s', TVal::Int(_) | TVal::Float(_) | TVal::Bool(_)) => format!("%!s({}={})", arg.type_name(), arg.go_string()),
                _ => arg.go_string(),
            },
            'd' => match arg {
                TVal::Int(i) => i.to_string(),
                other => format!("%!d({}={})", other.type_name(), other.go_string()),
            },
            'q' => match arg {
                TVal::Str(s) => go_quote(s),
                other => go_quote(&other.go_string()),
            },
            't' => match arg {
                TVal::Bool(b) => b.to_string(),
                other => format!("%!t({}={})", other.type_name(), other.go_string()),
            },
            'f' | 'F' => match arg {
                TVal::Float(f) => format!("{:.*}", prec.unwrap_or(6), f),
                other => format!("%!f({}={})", other.type_name(), other.go_string()),
            },
            'x' => match arg {
                TVal::Int(i) => format!("{i:x}"),
                TVal::Str(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                other => format!("%!x({}={})", other.type_name(), other.go_string()),
            },
            _ => return Err(FuncError::Unsupported),
        };
        let s = match prec {
            Some(p) if verb == 's' || verb == 'v' => s.chars().take(p).collect(),
            _ => s,
        };
        let w: usize = width.parse().unwrap_or(0);
        let pad = w.saturating_sub(s.chars().count());
        if flags.contains('-') {
            out.push_str(&s);
            out.push_str(&" ".repeat(pad));
        } else {
            let fill = if flags.contains('0') && verb != 's' { '0' } else { ' ' };
            out.extend(std::iter::repeat_n(fill, pad));
            out.push_str(&s);
        }
    }
    if ai < args.len() {
        out.push_str("%!(EXTRA ");
        out.push_str(&args[ai..].iter().map(|a| format!("{}={}", a.type_name(), a.go_string())).collect::<Vec<_>>().join(", "));
        out.push(')');
    }
    Ok(out)
}
