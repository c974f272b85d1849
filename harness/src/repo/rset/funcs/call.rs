//! The dispatch from a function name to its Go or sprig behaviour.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::super::goyaml;
use super::super::value::TVal;
use super::fmt::{sprint, sprintf};
use super::text::{case_words, indent, regex, slugify, title};
use super::*;

/// Call a function (not `and`/`or`/`inputs`, which the executor evaluates itself).
pub fn call(name: &str, args: Vec<TVal>) -> R {
    let a = &args;
    let s = |i: usize| a.get(i).map(strval).unwrap_or_default();
    Ok(match name {
        "not" => {
            want(name, a, 1)?;
            TVal::Bool(!a[0].truthy())
        }
        "len" => {
            want(name, a, 1)?;
            TVal::Int(match &a[0] {
                TVal::Str(s) => s.len() as i64,
                TVal::List(l) => l.len() as i64,
                TVal::Map(m) => m.len() as i64,
                other => return Err(fail(format!("len of type {}", other.type_name()))),
            })
        }
        "index" => {
            let Some((first, keys)) = a.split_first() else { return Err(fail("wrong number of args for index")) };
            let mut v = first.clone();
            for k in keys {
                v = match (v, k) {
                    (TVal::List(l), TVal::Int(i)) => l.get(*i as usize).cloned().ok_or_else(|| fail(format!("index out of range: {i}")))?,
                    (TVal::Map(m), TVal::Str(k)) => m.get(k).cloned().unwrap_or(TVal::Nil),
                    (TVal::Nil, _) => return Err(fail("index of untyped nil")),
                    (v, k) => return Err(fail(format!("cannot index {} with {}", v.type_name(), k.type_name()))),
                };
            }
            v
        }
        "slice" | "mustSlice" => {
            let Some((first, idx)) = a.split_first() else { return Err(fail("wrong number of args for slice")) };
            let i: Vec<usize> = idx.iter().map(|x| to_i64(x).max(0) as usize).collect();
            match first {
                TVal::List(l) => {
                    let lo = i.first().copied().unwrap_or(0).min(l.len());
                    let hi = i.get(1).copied().unwrap_or(l.len()).min(l.len()).max(lo);
                    TVal::List(l[lo..hi].to_vec())
                }
                TVal::Str(st) => {
                    let lo = i.first().copied().unwrap_or(0).min(st.len());
                    let hi = i.get(1).copied().unwrap_or(st.len()).min(st.len()).max(lo);
                    TVal::Str(st.get(lo..hi).unwrap_or("").to_string())
                }
                other => return Err(fail(format!("can't slice item of type {}", other.type_name()))),
            }
        }
        "print" => TVal::Str(sprint(a)),
        "println" => TVal::Str(format!("{}\n", a.iter().map(TVal::go_string).collect::<Vec<_>>().join(" "))),
        "printf" => {
            let Some((f, rest)) = a.split_first() else { return Err(fail("wrong number of args for printf")) };
            TVal::Str(sprintf(&strval(f), rest)?)
        }
        "eq" => {
            let Some((first, rest)) = a.split_first() else { return Err(fail("missing argument for comparison")) };
            if rest.is_empty() {
                return Err(fail("missing argument for comparison"));
            }
            let mut any = false;
            for r in rest {
                if go_eq(first, r)? {
                    any = true;
                    break;
                }
            }
            TVal::Bool(any)
        }
        "ne" => {
            want(name, a, 2)?;
            TVal::Bool(!go_eq(&a[0], &a[1])?)
        }
        "lt" => {
            want(name, a, 2)?;
            TVal::Bool(go_lt(&a[0], &a[1])?)
        }
        "le" => {
            want(name, a, 2)?;
            TVal::Bool(go_lt(&a[0], &a[1])? || go_eq(&a[0], &a[1])?)
        }
        "gt" => {
            want(name, a, 2)?;
            TVal::Bool(!(go_lt(&a[0], &a[1])? || go_eq(&a[0], &a[1])?))
        }
        "ge" => {
            want(name, a, 2)?;
            TVal::Bool(!go_lt(&a[0], &a[1])?)
        }
        // Strings.
        "quote" => TVal::Str(a.iter().filter(|v| !matches!(v, TVal::Nil)).map(|v| go_quote(&strval(v))).collect::<Vec<_>>().join(" ")),
        "squote" => {
            TVal::Str(a.iter().filter(|v| !matches!(v, TVal::Nil)).map(|v| format!("'{}'", strval(v))).collect::<Vec<_>>().join(" "))
        }
        "cat" => TVal::Str(a.iter().filter(|v| !matches!(v, TVal::Nil)).map(strval).collect::<Vec<_>>().join(" ")),
        "upper" => TVal::Str(s(0).to_uppercase()),
        "lower" => TVal::Str(s(0).to_lowercase()),
        "title" => TVal::Str(title(&s(0))),
        "trim" => TVal::Str(s(0).trim().to_string()),
        "trimAll" | "trimall" => {
            let cut = s(0);
            TVal::Str(s(1).trim_matches(|c| cut.contains(c)).to_string())
        }
        "trimPrefix" => TVal::Str(s(1).strip_prefix(s(0).as_str()).map(str::to_string).unwrap_or_else(|| s(1))),
        "trimSuffix" => TVal::Str(s(1).strip_suffix(s(0).as_str()).map(str::to_string).unwrap_or_else(|| s(1))),
        "nospace" => TVal::Str(s(0).chars().filter(|c| !c.is_whitespace()).collect()),
        "repeat" => TVal::Str(s(1).repeat(to_i64(&a[0]).max(0) as usize)),
        "substr" => {
            want(name, a, 3)?;
            let st = s(2);
            let (lo, hi) = (to_i64(&a[0]), to_i64(&a[1]));
            let lo = if lo < 0 { 0 } else { lo as usize };
            let hi = if hi < 0 || hi as usize > st.len() { st.len() } else { hi as usize };
            TVal::Str(st.get(lo.min(hi)..hi).unwrap_or("").to_string())
        }
        "trunc" => {
            want(name, a, 2)?;
            let (n, st) = (to_i64(&a[0]), s(1));
            TVal::Str(if n < 0 {
                let k = (-n) as usize;
                if st.len() > k { st[st.len() - k..].to_string() } else { st }
            } else {
                st.chars().take(n as usize).collect()
            })
        }
        "contains" => TVal::Bool(s(1).contains(s(0).as_str())),
        "hasPrefix" => TVal::Bool(s(1).starts_with(s(0).as_str())),
        "hasSuffix" => TVal::Bool(s(1).ends_with(s(0).as_str())),
        "replace" => {
            want(name, a, 3)?;
            TVal::Str(s(2).replace(s(0).as_str(), &s(1)))
        }
        "indent" => {
            want(name, a, 2)?;
            TVal::Str(indent(to_i64(&a[0]), &s(1)))
        }
        "nindent" => {
            want(name, a, 2)?;
            TVal::Str(format!("\n{}", indent(to_i64(&a[0]), &s(1))))
        }
        "snakecase" => TVal::Str(case_words(&s(0)).iter().map(|w| w.to_lowercase()).collect::<Vec<_>>().join("_")),
        "kebabcase" => TVal::Str(case_words(&s(0)).iter().map(|w| w.to_lowercase()).collect::<Vec<_>>().join("-")),
        "camelcase" => TVal::Str(s(0).split('_').map(|w| title(&w.to_lowercase())).collect()),
        "plural" => {
            want(name, a, 3)?;
            TVal::Str(if to_i64(&a[2]) == 1 { s(0) } else { s(1) })
        }
        "split" => TVal::Map(s(1).split(s(0).as_str()).enumerate().map(|(i, p)| (format!("_{i}"), TVal::Str(p.to_string()))).collect()),
        "splitList" => TVal::List(s(1).split(s(0).as_str()).map(|p| TVal::Str(p.to_string())).collect()),
        "splitn" => {
            want(name, a, 3)?;
            let n = to_i64(&a[1]);
            let st = s(2);
            let sep = s(0);
            let parts: Vec<&str> = if n < 0 { st.split(sep.as_str()).collect() } else { st.splitn(n as usize, sep.as_str()).collect() };
            TVal::Map(parts.iter().enumerate().map(|(i, p)| (format!("_{i}"), TVal::Str(p.to_string()))).collect())
        }
        "join" => {
            want(name, a, 2)?;
            let items = match &a[1] {
                TVal::List(l) => l.iter().filter(|v| !matches!(v, TVal::Nil)).map(strval).collect::<Vec<_>>(),
                TVal::Nil => Vec::new(),
                other => vec![strval(other)],
            };
            TVal::Str(items.join(&s(0)))
        }
        "toString" => TVal::Str(s(0)),
        "toStrings" => TVal::List(list_of(name, &a[0])?.iter().map(|v| TVal::Str(strval(v))).collect()),
        "slugify" => TVal::Str(slugify(&s(0))?),
        "b64enc" => TVal::Str(base64::engine::general_purpose::STANDARD.encode(s(0))),
        "b64dec" => TVal::Str(
            base64::engine::general_purpose::STANDARD
                .decode(s(0))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|e| e.to_string()),
        ),
        "adler32sum" => TVal::Str(adler32(s(0).as_bytes()).to_string()),
        "base" => {
            TVal::Str(std::path::Path::new(&s(0)).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| ".".into()))
        }
        "ext" => TVal::Str(std::path::Path::new(&s(0)).extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default()),
        // Conversions and numbers.
        "int" | "int64" | "atoi" => TVal::Int(to_i64(&a[0])),
        "float64" => TVal::Float(to_f64(&a[0])),
        "add" => TVal::Int(a.iter().map(to_i64).sum()),
        "add1" => TVal::Int(to_i64(&a[0]) + 1),
        "sub" => {
            want(name, a, 2)?;
            TVal::Int(to_i64(&a[0]) - to_i64(&a[1]))
        }
        "mul" => TVal::Int(a.iter().map(to_i64).product()),
        "div" => {
            want(name, a, 2)?;
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err(fail("integer divide by zero"));
            }
            TVal::Int(to_i64(&a[0]) / d)
        }
        "mod" => {
            want(name, a, 2)?;
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err(fail("integer divide by zero"));
            }
            TVal::Int(to_i64(&a[0]) % d)
        }
        "max" | "biggest" => TVal::Int(a.iter().map(to_i64).max().unwrap_or(0)),
        "min" => TVal::Int(a.iter().map(to_i64).min().unwrap_or(0)),
        "until" => TVal::List((0..to_i64(&a[0]).clamp(0, 100_000)).map(TVal::Int).collect()),
        "untilStep" => {
            want(name, a, 3)?;
            let (start, stop, step) = (to_i64(&a[0]), to_i64(&a[1]), to_i64(&a[2]));
            let mut out = Vec::new();
            let mut i = start;
            while step != 0 && ((step > 0 && i < stop) || (step < 0 && i > stop)) && out.len() < 100_000 {
                out.push(TVal::Int(i));
                i += step;
            }
            TVal::List(out)
        }
        // Defaults and logic.
        "default" => {
            if a.len() < 2 || empty(&a[1]) {
                a.first().cloned().unwrap_or(TVal::Nil)
            } else {
                a[1].clone()
            }
        }
        "empty" => TVal::Bool(empty(a.first().unwrap_or(&TVal::Nil))),
        "coalesce" => a.iter().find(|v| !empty(v)).cloned().unwrap_or(TVal::Nil),
        "all" => TVal::Bool(a.iter().all(|v| !empty(v))),
        "any" => TVal::Bool(a.iter().any(|v| !empty(v))),
        "ternary" => {
            want(name, a, 3)?;
            if a[2].truthy() { a[0].clone() } else { a[1].clone() }
        }
        "fail" => return Err(fail(s(0))),
        "typeOf" => TVal::Str(a.first().map(TVal::type_name).unwrap_or("<nil>").to_string()),
        "kindOf" => TVal::Str(
            match a.first() {
                Some(TVal::List(_)) => "slice",
                Some(TVal::Map(_)) => "map",
                Some(TVal::Str(_)) => "string",
                Some(TVal::Int(_)) => "int",
                Some(TVal::Float(_)) => "float64",
                Some(TVal::Bool(_)) => "bool",
                _ => "invalid",
            }
            .to_string(),
        ),
        "kindIs" => {
            want(name, a, 2)?;
            let k = call("kindOf", vec![a[1].clone()])?;
            TVal::Bool(k == TVal::Str(s(0)))
        }
        "deepEqual" => {
            want(name, a, 2)?;
            TVal::Bool(a[0] == a[1])
        }
        "deepCopy" | "mustDeepCopy" => a.first().cloned().unwrap_or(TVal::Nil),
        // Lists.
        "list" | "tuple" => TVal::List(a.clone()),
        "first" | "mustFirst" => list_of(name, &a[0])?.first().cloned().unwrap_or(TVal::Nil),
        "last" | "mustLast" => list_of(name, &a[0])?.last().cloned().unwrap_or(TVal::Nil),
        "rest" | "mustRest" => TVal::List(list_of(name, &a[0])?.into_iter().skip(1).collect()),
        "initial" | "mustInitial" => {
            let mut l = list_of(name, &a[0])?;
            l.pop();
            TVal::List(l)
        }
        "append" | "push" | "mustAppend" | "mustPush" => {
            want(name, a, 2)?;
            let mut l = list_of(name, &a[0])?;
            l.push(a[1].clone());
            TVal::List(l)
        }
        "prepend" | "mustPrepend" => {
            want(name, a, 2)?;
            let mut l = list_of(name, &a[0])?;
            l.insert(0, a[1].clone());
            TVal::List(l)
        }
        "concat" => TVal::List(a.iter().map(|v| list_of(name, v)).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect()),
        "reverse" | "mustReverse" => TVal::List(list_of(name, &a[0])?.into_iter().rev().collect()),
        "uniq" | "mustUniq" => {
            let mut out: Vec<TVal> = Vec::new();
            for v in list_of(name, &a[0])? {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            TVal::List(out)
        }
        "compact" | "mustCompact" => TVal::List(list_of(name, &a[0])?.into_iter().filter(|v| !empty(v)).collect()),
        "without" | "mustWithout" => {
            let Some((l, drop)) = a.split_first() else { return Err(fail("wrong number of args for without")) };
            TVal::List(list_of(name, l)?.into_iter().filter(|v| !drop.contains(v)).collect())
        }
        "has" | "mustHas" => {
            want(name, a, 2)?;
            TVal::Bool(list_of(name, &a[1])?.contains(&a[0]))
        }
        "sortAlpha" => {
            let mut l: Vec<String> = list_of(name, &a[0])?.iter().map(strval).collect();
            l.sort();
            TVal::List(l.into_iter().map(TVal::Str).collect())
        }
        "chunk" | "mustChunk" => {
            want(name, a, 2)?;
            let n = to_i64(&a[0]).max(1) as usize;
            TVal::List(list_of(name, &a[1])?.chunks(n).map(|c| TVal::List(c.to_vec())).collect())
        }
        // Dictionaries.
        "dict" => {
            let mut m = BTreeMap::new();
            for pair in a.chunks(2) {
                m.insert(strval(&pair[0]), pair.get(1).cloned().unwrap_or(TVal::Str(String::new())));
            }
            TVal::Map(m)
        }
        "get" => {
            want(name, a, 2)?;
            map_of(name, &a[0])?.get(&s(1)).cloned().unwrap_or(TVal::Str(String::new()))
        }
        "set" => {
            want(name, a, 3)?;
            let mut m = map_of(name, &a[0])?;
            m.insert(s(1), a[2].clone());
            TVal::Map(m)
        }
        "unset" => {
            want(name, a, 2)?;
            let mut m = map_of(name, &a[0])?;
            m.remove(&s(1));
            TVal::Map(m)
        }
        "hasKey" => {
            want(name, a, 2)?;
            TVal::Bool(map_of(name, &a[0])?.contains_key(&s(1)))
        }
        "keys" => {
            let mut k: Vec<String> = Vec::new();
            for m in a {
                k.extend(map_of(name, m)?.into_keys());
            }
            TVal::List(k.into_iter().map(TVal::Str).collect())
        }
        "values" => TVal::List(map_of(name, &a[0])?.into_values().collect()),
        "pick" | "omit" => {
            let Some((m, ks)) = a.split_first() else { return Err(fail("wrong number of args")) };
            let ks: Vec<String> = ks.iter().map(strval).collect();
            TVal::Map(map_of(name, m)?.into_iter().filter(|(k, _)| ks.contains(k) == (name == "pick")).collect())
        }
        "pluck" => {
            let Some((k, ms)) = a.split_first() else { return Err(fail("wrong number of args")) };
            let k = strval(k);
            TVal::List(ms.iter().filter_map(|m| map_of(name, m).ok().and_then(|m| m.get(&k).cloned())).collect())
        }
        "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite" => {
            let Some((dst, srcs)) = a.split_first() else { return Err(fail("wrong number of args")) };
            let mut out = map_of(name, dst)?;
            let overwrite = name.contains("Overwrite");
            for src in srcs {
                merge_into(&mut out, &map_of(name, src)?, overwrite);
            }
            TVal::Map(out)
        }
        "dig" => {
            if a.len() < 3 {
                return Err(fail("dig needs at least three arguments"));
            }
            let map = &a[a.len() - 1];
            let default = &a[a.len() - 2];
            let mut cur = map.clone();
            for k in &a[..a.len() - 2] {
                cur = match cur {
                    TVal::Map(mut m) => match m.remove(&strval(k)) {
                        Some(v) => v,
                        None => return Ok(default.clone()),
                    },
                    _ => return Ok(default.clone()),
                };
            }
            cur
        }
        // Encodings.
        "toJson" | "mustToJson" | "toRawJson" | "mustToRawJson" => {
            TVal::Str(serde_json::to_string(&a.first().map(TVal::to_json).unwrap_or_default()).unwrap_or_default())
        }
        "toPrettyJson" | "mustToPrettyJson" => {
            TVal::Str(serde_json::to_string_pretty(&a.first().map(TVal::to_json).unwrap_or_default()).unwrap_or_default())
        }
        "fromJson" | "mustFromJson" => match serde_json::from_str::<serde_json::Value>(&s(0)) {
            Ok(v) => TVal::from_input(&v),
            Err(e) if name == "mustFromJson" => return Err(fail(e.to_string())),
            Err(_) => TVal::Map(BTreeMap::new()),
        },
        "toYaml" | "mustToYaml" => TVal::Str(goyaml::to_yaml(a.first().unwrap_or(&TVal::Nil))),
        // Regular expressions (Go's RE2 and Rust's regex agree on the common syntax).
        "regexMatch" | "mustRegexMatch" => {
            want(name, a, 2)?;
            TVal::Bool(regex(name, &s(0))?.is_match(&s(1)))
        }
        "regexFind" | "mustRegexFind" => {
            want(name, a, 2)?;
            TVal::Str(regex(name, &s(0))?.find(&s(1)).map(|m| m.as_str().to_string()).unwrap_or_default())
        }
        "regexFindAll" | "mustRegexFindAll" => {
            want(name, a, 3)?;
            let n = to_i64(&a[2]);
            let hay = s(1);
            let re = regex(name, &s(0))?;
            let all = re.find_iter(&hay).map(|m| TVal::Str(m.as_str().to_string()));
            TVal::List(if n < 0 { all.collect() } else { all.take(n as usize).collect() })
        }
        "regexReplaceAll" | "mustRegexReplaceAll" => {
            want(name, a, 3)?;
            // Go's `${1}` expansion is Rust's too.
            TVal::Str(regex(name, &s(0))?.replace_all(&s(1), s(2).as_str()).into_owned())
        }
        "regexReplaceAllLiteral" | "mustRegexReplaceAllLiteral" => {
            want(name, a, 3)?;
            TVal::Str(regex(name, &s(0))?.replace_all(&s(1), regex::NoExpand(&s(2))).into_owned())
        }
        "regexSplit" | "mustRegexSplit" => {
            want(name, a, 3)?;
            let n = to_i64(&a[2]);
            let hay = s(1);
            let re = regex(name, &s(0))?;
            TVal::List(if n < 0 {
                re.split(&hay).map(|p| TVal::Str(p.to_string())).collect()
            } else {
                re.splitn(&hay, n as usize).map(|p| TVal::Str(p.to_string())).collect()
            })
        }
        "regexQuoteMeta" => TVal::Str(regex::escape(&s(0))),
        "html" | "js" | "urlquery" | "call" => return Err(FuncError::Unsupported),
        _ if defined(name) => return Err(FuncError::Unsupported),
        _ => return Err(fail(format!("function {name:?} not defined"))),
    })
}

/// mergo's merge as sprig uses it: keys missing in `dst` are copied; with `overwrite`, `src` wins
/// (maps merged recursively either way).
fn merge_into(dst: &mut BTreeMap<String, TVal>, src: &BTreeMap<String, TVal>, overwrite: bool) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(TVal::Map(d)), TVal::Map(s)) => merge_into(d, s, overwrite),
            (Some(slot), v) if overwrite && !empty(v) => *slot = v.clone(),
            (Some(slot), v) if empty(slot) => *slot = v.clone(),
            (Some(_), _) => {}
            (None, v) => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}
