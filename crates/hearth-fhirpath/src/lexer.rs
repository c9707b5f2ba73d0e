//! Tokenizer: FHIRPath source text → tokens with byte positions.

use crate::error::{CompileError, CompileErrorKind};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A plain identifier (may be a keyword such as `and`, `true`, `is`).
    Ident(String),
    /// A backtick-delimited identifier: never a keyword.
    Delimited(String),
    Str(String),
    Int(i64),
    Dec(f64),
    /// `@...` date, dateTime or time literal, without the `@`.
    Temporal(String),
    /// `%name` environment variable.
    Env(String),
    /// `$this`, `$index`, `$total`.
    Dollar(String),
    Op(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, CompileError> {
    let mut lx = Lexer { src, bytes: src.as_bytes(), pos: 0, out: Vec::new() };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    pos: usize,
    out: Vec<Token>,
}

fn syntax(src: &str, pos: usize, msg: impl Into<String>) -> CompileError {
    CompileError::new(src, CompileErrorKind::Syntax, pos, msg)
}

impl Lexer<'_> {
    fn peek(&self, off: usize) -> Option<u8> {
        self.bytes.get(self.pos + off).copied()
    }

    fn push(&mut self, tok: Tok, pos: usize) {
        self.out.push(Token { tok, pos });
    }

    fn run(&mut self) -> Result<(), CompileError> {
        while let Some(c) = self.peek(0) {
            let start = self.pos;
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'/' if self.peek(1) == Some(b'/') => {
                    while let Some(c) = self.peek(0) {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                b'/' if self.peek(1) == Some(b'*') => {
                    let Some(end) = self.src.get(self.pos + 2..).and_then(|s| s.find("*/")) else {
                        return Err(syntax(self.src, start, "unterminated comment"));
                    };
                    self.pos += 2 + end + 2;
                }
                b'\'' => {
                    let s = self.quoted(b'\'')?;
                    self.push(Tok::Str(s), start);
                }
                b'`' => {
                    let s = self.quoted(b'`')?;
                    self.push(Tok::Delimited(s), start);
                }
                b'0'..=b'9' => self.number()?,
                b'@' => self.temporal()?,
                b'%' => {
                    self.pos += 1;
                    let name = match self.peek(0) {
                        Some(b'`') => self.quoted(b'`')?,
                        Some(b'\'') => self.quoted(b'\'')?,
                        _ => self.ident_text(),
                    };
                    if name.is_empty() {
                        return Err(syntax(self.src, start, "expected a variable name after `%`"));
                    }
                    self.push(Tok::Env(name), start);
                }
                b'$' => {
                    self.pos += 1;
                    let name = self.ident_text();
                    self.push(Tok::Dollar(name), start);
                }
                c if c == b'_' || c.is_ascii_alphabetic() => {
                    let name = self.ident_text();
                    self.push(Tok::Ident(name), start);
                }
                _ => self.punct(c, start)?,
            }
        }
        self.push(Tok::Eof, self.pos);
        Ok(())
    }

    fn punct(&mut self, c: u8, start: usize) -> Result<(), CompileError> {
        let two = self.bytes.get(self.pos..self.pos + 2);
        let op2: Option<&'static str> = match two {
            Some(b"<=") => Some("<="),
            Some(b">=") => Some(">="),
            Some(b"!=") => Some("!="),
            Some(b"!~") => Some("!~"),
            _ => None,
        };
        if let Some(op) = op2 {
            self.pos += 2;
            self.push(Tok::Op(op), start);
            return Ok(());
        }
        let tok = match c {
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'[' => Tok::LBracket,
            b']' => Tok::RBracket,
            b'{' => Tok::LBrace,
            b'}' => Tok::RBrace,
            b',' => Tok::Comma,
            b'.' => Tok::Dot,
            b'=' => Tok::Op("="),
            b'~' => Tok::Op("~"),
            b'<' => Tok::Op("<"),
            b'>' => Tok::Op(">"),
            b'|' => Tok::Op("|"),
            b'+' => Tok::Op("+"),
            b'-' => Tok::Op("-"),
            b'*' => Tok::Op("*"),
            b'/' => Tok::Op("/"),
            b'&' => Tok::Op("&"),
            _ => {
                let ch = self.src.get(self.pos..).and_then(|s| s.chars().next()).unwrap_or('?');
                return Err(syntax(self.src, start, format!("unexpected character `{ch}`")));
            }
        };
        self.pos += 1;
        self.push(tok, start);
        Ok(())
    }

    fn ident_text(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek(0) {
            if c == b'_' || c.is_ascii_alphanumeric() {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.src.get(start..self.pos).unwrap_or_default().to_string()
    }

    /// A quoted string or delimited identifier with FHIRPath escapes; `self.pos` is on the opening quote.
    fn quoted(&mut self, quote: u8) -> Result<String, CompileError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = self.src.get(self.pos..).unwrap_or_default();
            let Some(ch) = rest.chars().next() else {
                return Err(syntax(self.src, start, "unterminated string"));
            };
            self.pos += ch.len_utf8();
            if ch as u32 == u32::from(quote) {
                return Ok(out);
            }
            if ch != '\\' {
                out.push(ch);
                continue;
            }
            let esc_pos = self.pos - 1;
            let Some(e) = self.peek(0) else {
                return Err(syntax(self.src, start, "unterminated string"));
            };
            self.pos += 1;
            match e {
                b'\'' | b'"' | b'`' | b'\\' | b'/' => out.push(char::from(e)),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let hex = self.src.get(self.pos..self.pos + 4).unwrap_or_default();
                    let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                    let Some(ch) = ch.filter(|_| hex.len() == 4) else {
                        return Err(syntax(self.src, esc_pos, "invalid \\u escape"));
                    };
                    self.pos += 4;
                    out.push(ch);
                }
                _ => return Err(syntax(self.src, esc_pos, "invalid escape sequence")),
            }
        }
    }

    fn number(&mut self) -> Result<(), CompileError> {
        let start = self.pos;
        while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let is_dec = self.peek(0) == Some(b'.') && self.peek(1).is_some_and(|c| c.is_ascii_digit());
        if is_dec {
            self.pos += 1;
            while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        let text = self.src.get(start..self.pos).unwrap_or_default();
        let tok = if is_dec {
            text.parse::<f64>().map(Tok::Dec).map_err(|_| syntax(self.src, start, "invalid decimal"))?
        } else {
            text.parse::<i64>().map(Tok::Int).map_err(|_| syntax(self.src, start, "integer literal out of range"))?
        };
        self.push(tok, start);
        Ok(())
    }

    fn temporal(&mut self) -> Result<(), CompileError> {
        let start = self.pos;
        self.pos += 1;
        let body = self.pos;
        while let Some(c) = self.peek(0) {
            let take = match c {
                b'0'..=b'9' | b'-' | b':' | b'T' | b'Z' | b'+' => true,
                b'.' => self.peek(1).is_some_and(|d| d.is_ascii_digit()),
                _ => false,
            };
            if !take {
                break;
            }
            self.pos += 1;
        }
        let text = self.src.get(body..self.pos).unwrap_or_default().to_string();
        if text.is_empty() {
            return Err(syntax(self.src, start, "expected a date, dateTime or time after `@`"));
        }
        self.push(Tok::Temporal(text), start);
        Ok(())
    }
}
