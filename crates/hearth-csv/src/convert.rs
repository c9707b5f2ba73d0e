//! Pass 2: CSV text (a chunk or a whole file) to FHIR Bundles, one per row group, with row errors.

use std::io::Read;

use crate::map::{Cell, FileMeta, Mapper, Row};
use crate::profile::normalize_header;
use crate::profile::{AllOrNothing, CodeSystem, Column, ColumnType, Profile};
use crate::read::{Encoding, Input, Record};
use crate::splitter::{group_columns, group_key, group_value};
use crate::value::Decimal;
use crate::{ConvertContext, CsvError, FileReport, MAX_REPORTED_ERRORS, Output, RowError};

/// Converts CSV text with one profile. Cheap to create; holds no per-file state, so one converter serves many
/// files (and threads).
#[derive(Debug, Clone)]
pub struct Converter {
    profile: Profile,
    mapper: Mapper,
}

/// A row as read: its line span and either its cells or why it cannot be used.
pub(crate) struct ParsedRow {
    pub(crate) line: u64,
    pub(crate) last_line: u64,
    pub(crate) cells: Result<Row, Vec<RowError>>,
}

/// Rows of one group, collected until the group ends.
struct Group {
    value: String,
    rows: Vec<ParsedRow>,
}

/// Everything one `convert` call accumulates.
struct Run<'a, F: FnMut(Output)> {
    report: FileReport,
    emit: F,
    held: Vec<Output>,
    ctx: &'a ConvertContext<'a>,
    meta: FileMeta,
    /// The header, normalised, to give mapping errors their column position.
    header_norm: Vec<String>,
}

impl Converter {
    pub fn new(profile: &Profile) -> Self {
        Converter { profile: profile.clone(), mapper: Mapper::new(profile) }
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Converts `input` (a whole file with `ctx.line_offset == 0`, or a [`crate::Chunk`]'s raw bytes with
    /// `line_offset = first_line - 1`). Header drift, an I/O error or an oversized record is an `Err`; bad rows
    /// are in the report. `emit` gets one [`Output`] per group with at least one converted row.
    pub fn convert<R: Read>(
        &self,
        input: R,
        ctx: &ConvertContext,
        emit: impl FnMut(Output),
    ) -> Result<FileReport, CsvError> {
        let mut input = Input::open(&self.profile, input, false)?;
        let meta = FileMeta::from_preamble(&input.preamble);
        let header_norm = input.header.columns.iter().map(|c| normalize_header(c)).collect();
        let mut run = Run { report: FileReport::default(), emit, held: Vec::new(), ctx, meta, header_norm };
        run.report.header = input.header.clone();
        run.report.encoding = Some(format!("{:?}", input.encoding));
        let group_cols = group_columns(&self.profile, &input.column_at);
        let header_lines = input.header_lines;
        // Chunk lines are renumbered as in the file; see `ConvertContext::line_offset`.
        let renumber_with = move |line: u64| {
            if ctx.line_offset == 0 { line } else { (line + ctx.line_offset).saturating_sub(header_lines) }
        };
        let mut group: Option<Group> = None;
        while let Some(rec) = input.next_record()? {
            let value = group_value(&group_cols, &rec, input.encoding);
            let row = self.parse_row(&input, &rec, renumber_with);
            let full = group.as_ref().is_some_and(|g| g.rows.len() >= self.profile.max_group_rows as usize);
            let same = group.as_ref().is_some_and(|g| !group_cols.is_empty() && g.value == value && !full);
            if !same {
                if let Some(done) = group.take() {
                    self.finish_group(done, &group_cols, &mut run);
                }
                group = Some(Group { value, rows: Vec::new() });
            }
            if let Some(g) = group.as_mut() {
                g.rows.push(row);
            }
        }
        if let Some(done) = group.take() {
            self.finish_group(done, &group_cols, &mut run);
        }
        Ok(self.finish_file(run))
    }

    fn finish_file<F: FnMut(Output)>(&self, mut run: Run<'_, F>) -> FileReport {
        let r = &mut run.report;
        if self.profile.all_or_nothing == AllOrNothing::File && r.rows_rejected > 0 && r.rows_converted > 0 {
            let held = r.rows_converted;
            r.rows_rejected += held;
            r.rows_converted = 0;
            let reason = format!("{held} good rows not converted: the profile is all-or-nothing per file");
            push_error(r, RowError { line: 0, column: None, column_index: None, reason });
            run.held.clear();
        }
        for out in run.held.drain(..) {
            (run.emit)(out);
        }
        run.report
    }

    fn finish_group<F: FnMut(Output)>(&self, group: Group, cols: &[Option<usize>], run: &mut Run<'_, F>) {
        let n = group.rows.len() as u64;
        run.report.rows_read += n;
        let first_line = group.rows.first().map_or(0, |r| r.line);
        let last_line = group.rows.last().map_or(0, |r| r.last_line);
        let key = group_key(first_line, cols, &group.value);
        let mut errors = Vec::new();
        let mut good = Vec::with_capacity(group.rows.len());
        for row in group.rows {
            match row.cells {
                Ok(cells) => good.push((row.line, cells)),
                Err(e) => errors.push(e),
            }
        }
        let (bundle, map_errors) = if good.is_empty() {
            (None, Vec::new())
        } else {
            let m = self.mapper.map(&good, run.ctx, &key, &run.meta);
            (m.bundle, m.rejected)
        };
        errors.extend(map_errors.into_iter().map(|e| vec![locate(e, &run.header_norm, &run.report.header.columns)]));
        let rejected = errors.len() as u64;
        let reject_all = self.profile.all_or_nothing == AllOrNothing::Group && rejected > 0;
        for e in errors.into_iter().flatten() {
            push_error(&mut run.report, e);
        }
        let bundle = match bundle {
            Some(b) if !reject_all => b,
            _ => {
                if rejected < n {
                    let reason = format!("rejected with its group ({rejected} of {n} rows bad)");
                    push_error(
                        &mut run.report,
                        RowError { line: first_line, column: None, column_index: None, reason },
                    );
                }
                run.report.rows_rejected += n;
                return;
            }
        };
        run.report.rows_rejected += rejected;
        run.report.rows_converted += n - rejected;
        let out = Output { bundle, first_line, last_line, group: key };
        if self.profile.all_or_nothing == AllOrNothing::File {
            run.held.push(out);
        } else {
            (run.emit)(out);
        }
    }

    /// Reads one record into typed cells, or every problem it has.
    fn parse_row<R: Read>(&self, input: &Input<R>, rec: &Record, renumber: impl Fn(u64) -> u64) -> ParsedRow {
        let line = renumber(rec.line);
        let spanned: u64 = rec.fields.iter().map(|f| f.iter().filter(|&&b| b == b'\n').count() as u64).sum();
        let mut errors = Vec::new();
        let found = rec.fields.len();
        let trailing_empty = found > input.width && rec.fields.iter().skip(input.width).all(<[u8]>::is_empty);
        if found != input.width && !trailing_empty {
            let reason = format!("has {found} fields, the header has {}", input.width);
            errors.push(RowError { line, column: None, column_index: None, reason });
            return ParsedRow { line, last_line: line + spanned, cells: Err(errors) };
        }
        let mut cells = Vec::with_capacity(self.profile.columns.len());
        for (k, col) in self.profile.columns.iter().enumerate() {
            let Some(i) = input.column_at[k] else {
                cells.push(Cell::Empty);
                continue;
            };
            let raw = rec.fields.get(i).unwrap_or(b"");
            match parse_cell(col, raw, input.encoding) {
                Ok(c) => cells.push(c),
                Err(reason) => {
                    let column = input.header.columns.get(i).cloned();
                    errors.push(RowError { line, column, column_index: Some(i + 1), reason });
                    cells.push(Cell::Empty);
                }
            }
        }
        let cells = if errors.is_empty() { Ok(Row { cells }) } else { Err(errors) };
        ParsedRow { line, last_line: line + spanned, cells }
    }
}

/// Gives an error raised while mapping (which knows the profile's column name) the file's name and position.
fn locate(mut e: RowError, header_norm: &[String], header: &[String]) -> RowError {
    if let Some(i) = e.column.as_ref().and_then(|c| header_norm.iter().position(|h| h == c)) {
        e.column = header.get(i).cloned();
        e.column_index = Some(i + 1);
    }
    e
}

fn push_error(report: &mut FileReport, e: RowError) {
    if report.errors.len() < MAX_REPORTED_ERRORS {
        report.errors.push(e);
    } else {
        report.errors_omitted += 1;
    }
}

/// One cell: decode, trim, value map, type. The error is the reason (the caller adds line and column).
fn parse_cell(col: &Column, raw: &[u8], encoding: Encoding) -> Result<Cell, String> {
    let text = encoding.decode(raw).ok_or_else(|| "not valid UTF-8 (the file started as UTF-8)".to_owned())?;
    let mut text = text.trim();
    if text.is_empty() {
        return if col.required { Err("required value is empty".to_owned()) } else { Ok(Cell::Empty) };
    }
    if !col.values.is_empty() {
        text = match col.values.get(text).or_else(|| col.values.get(&text.to_lowercase())) {
            Some(v) => v.as_str(),
            None => return Err(format!("{text:?} is not one of the profile's values")),
        };
    }
    match col.ty {
        ColumnType::Identifier if text.chars().any(char::is_control) => {
            Err("identifier contains a line break or control character".to_owned())
        }
        ColumnType::String | ColumnType::Identifier => Ok(Cell::Text(text.to_owned())),
        ColumnType::Code => match &col.split {
            Some(sep) => {
                let mut codes: Vec<Cell> = text
                    .split(sep.as_str())
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| parse_code(col, t))
                    .collect::<Result<_, _>>()?;
                if codes.len() == 1 { Ok(codes.remove(0)) } else { Ok(Cell::Many(codes)) }
            }
            None => parse_code(col, text),
        },
        ColumnType::Date => col
            .formats
            .iter()
            .find_map(|f| f.apply(text))
            .map(Cell::Text)
            .ok_or_else(|| format!("{text:?} is not a date in the profile's formats")),
        ColumnType::Decimal | ColumnType::Money | ColumnType::Integer => parse_number(col, text),
    }
}

fn parse_number(col: &Column, text: &str) -> Result<Cell, String> {
    let d = Decimal::parse(text).ok_or_else(|| format!("{text:?} is not a number"))?;
    if col.ty == ColumnType::Integer && d.to_i64().is_none() {
        return Err(format!("{text:?} is not a whole number"));
    }
    if d.is_negative() && !col.allow_negative {
        return Err(format!("{text} is negative, which this column does not allow"));
    }
    Ok(Cell::Num(d))
}

fn parse_code(col: &Column, text: &str) -> Result<Cell, String> {
    if text.chars().any(char::is_whitespace) && col.system != Some(CodeSystem::ByType) {
        return Err(format!("{text:?} is not a code (it has spaces)"));
    }
    let system = match &col.system {
        Some(CodeSystem::Fixed(s)) => s.clone(),
        Some(CodeSystem::CptOrHcpcs) => crate::map::cpt_or_hcpcs(text)
            .ok_or_else(|| format!("{text:?} is neither a CPT nor a HCPCS code"))?
            .to_owned(),
        // Resolved by the mapper from the same-numbered code type column.
        Some(CodeSystem::ByType) | None => String::new(),
    };
    Ok(Cell::Code { system, code: text.to_owned() })
}
